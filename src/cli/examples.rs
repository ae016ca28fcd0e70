//! The EXAMPLES of the common verbs, shown by `--help` (not `-h`) and in
//! their man pages. Only flags that exist: clap refuses an unknown one, and
//! tests/e2e/docs.rs parses every example line with burrow's own parser.

pub const RUN: &str = "Examples:
  burrow run --rm alpine echo hello
  burrow run --rm -it debian:bookworm bash
  burrow run -d --name ticker busybox sh -c 'while :; do date; sleep 1; done'
  burrow run --rm -v ./site:/www:ro -w /www busybox ls
  burrow run --rm -e GREETING=hi -u 1000 busybox env
  burrow run --rm debian:bookworm sh -c 'apt-get update && apt-get install -y curl'
  burrow run --rm --add-host host.docker.internal:host-gateway alpine wget -qO- http://host.docker.internal:8000/
  burrow run --rm --network host alpine wget -qO- http://127.0.0.1:8000/
  burrow run -d --name web --health-cmd 'wget -qO- localhost:80' --health-interval 5s nginx
  burrow run -d -p 8080:80 --name web nginx
  burrow run --rm --link web:site alpine wget -qO- http://site/
  burrow run --rm --network container:web alpine wget -qO- http://localhost/
  burrow run -d -P --expose 53/udp busybox nc -lup 53";

pub const PORT: &str = "Examples:
  burrow port web
  burrow port web 80/tcp";

pub const CREATE: &str = "Examples:
  burrow create --name job busybox sh -c 'date; sleep 5'
  burrow start -a job";

pub const START: &str = "Examples:
  burrow start ticker
  burrow start -a job      # print its output and wait for it";

pub const EXEC: &str = "Examples:
  burrow exec ticker ps
  burrow exec -it ticker sh
  burrow exec -e DEBUG=1 -u 1000 -w /tmp ticker env";

pub const PS: &str = "Examples:
  burrow ps
  burrow ps -a -s
  burrow ps -f status=exited -f ancestor=busybox
  burrow ps -f health=unhealthy
  burrow ps --format 'table {{.ID}}\\t{{.Status}}'";

pub const LOGS: &str = "Examples:
  burrow logs ticker
  burrow logs -f -n 10 ticker
  burrow logs -t --since 5m ticker";

pub const STOP: &str = "Examples:
  burrow stop ticker
  burrow stop -t 2 ticker job";

pub const RM: &str = "Examples:
  burrow rm job
  burrow rm -f ticker      # stop it first";

pub const PULL: &str = "Examples:
  burrow pull alpine
  burrow pull debian:bookworm
  burrow pull -q 127.0.0.1:5000/team/tool@sha256:<digest>";

pub const IMAGES: &str = "Examples:
  burrow images
  burrow images -q -f dangling=true
  burrow images --format '{{.Repository}}:{{.Tag}} {{.Size}}'";

pub const RMI: &str = "Examples:
  burrow rmi alpine
  burrow rmi -f busybox    # untag it even while a container uses it";

pub const SANDBOX: &str = "Examples:
  cd ~/src/project && burrow sandbox -- ./configure
  burrow sandbox --allow-read ~/.cargo --allow-read ~/.rustup -- cargo build --offline
  burrow sandbox --env GITHUB_TOKEN -- ./release.sh";

pub const INFO: &str = "Examples:
  burrow info
  burrow info --format json";

pub const COMPOSE: &str = "Examples:
  burrow compose up -d --wait && burrow compose ps
  burrow compose logs -f
  burrow compose down -v
  burrow compose config
  burrow compose -f compose.yaml -f compose.prod.yaml config
  burrow compose -p shop --env-file prod.env config --services";

pub const COMPOSE_CONFIG: &str = "Examples:
  burrow compose config
  burrow compose --profile debug config --format json
  burrow compose config -q      # only check the files";
pub const COMPOSE_UP: &str = "Examples:
  burrow compose up -d --wait
  burrow compose up --build web          # rebuild web's image, start web and what it needs
  burrow compose up -d --scale worker=3
  burrow compose up                      # attached: prefixed output, Ctrl-C stops";

pub const COMPOSE_DOWN: &str = "Examples:
  burrow compose down
  burrow compose down -v                 # the named volumes too (their data is lost)
  burrow compose down --rmi local --remove-orphans";

pub const COMPOSE_PS: &str = "Examples:
  burrow compose ps
  burrow compose ps -a --format json
  burrow compose ps --services";

pub const COMPOSE_LOGS: &str = "Examples:
  burrow compose logs
  burrow compose logs -f web db
  burrow compose logs --tail 20 --no-log-prefix app";

pub const COMPOSE_STOP: &str = "Examples:
  burrow compose stop
  burrow compose stop -t 2 web";

pub const COMPOSE_START: &str = "Examples:
  burrow compose start
  burrow compose start db";

pub const COMPOSE_RESTART: &str = "Examples:
  burrow compose restart
  burrow compose restart -t 0 app";

pub const COMPOSE_KILL: &str = "Examples:
  burrow compose kill
  burrow compose kill -s SIGHUP web";

pub const COMPOSE_RM: &str = "Examples:
  burrow compose rm
  burrow compose rm -s -v worker      # stop first, remove anonymous volumes";

pub const COMPOSE_EXEC: &str = "Examples:
  burrow compose exec db psql -U postgres
  burrow compose exec -T --index 2 worker cat /tmp/state";

pub const COMPOSE_RUN: &str = "Examples:
  burrow compose run --rm app ./manage.py migrate
  burrow compose run --no-deps -e DEBUG=1 app sh";

pub const COMPOSE_TOP: &str = "Examples:
  burrow compose top
  burrow compose top web";

pub const COMPOSE_PORT: &str = "Examples:
  burrow compose port web 80
  burrow compose port --protocol udp dns 53";

pub const COMPOSE_IMAGES: &str = "Examples:
  burrow compose images
  burrow compose images -q";

pub const COMPOSE_LS: &str = "Examples:
  burrow compose ls
  burrow compose ls -a -q";

pub const COMPOSE_BUILD: &str = "Examples:
  burrow compose build
  burrow compose build --no-cache app";

pub const COMPOSE_PULL: &str = "Examples:
  burrow compose pull
  burrow compose pull -q db";

pub const COMPOSE_PUSH: &str = "Examples:
  burrow compose push
  burrow compose push app";

pub const BUILD: &str = "Examples:
  burrow build -t myapp .
  burrow build -t myapp:1.0 --build-arg VERSION=1.0 -f docker/Dockerfile .
  burrow build --target builder -t myapp-build .    # stop at the stage named builder
  burrow build -q --no-cache . > id.txt
  burrow build --secret id=token,src=$HOME/.token -t app .   # RUN --mount=type=secret,id=token
  tar -C ctx -c . | burrow build -t fromtar -               # the context as a tar on stdin";

pub const COMMIT: &str = "Examples:
  burrow commit web myweb:v2
  burrow commit -c 'CMD [\"nginx\", \"-g\", \"daemon off;\"]' -c 'EXPOSE 80' -m 'add site' web myweb
  SOURCE_DATE_EPOCH=0 burrow commit build out:repro    # same changes, same image id";

pub const CP: &str = "Examples:
  burrow cp web:/etc/nginx/nginx.conf .
  burrow cp ./site web:/usr/share/nginx/html
  burrow cp -a ./data web:/srv    # keep the files' owners
  burrow cp web:/var/log - | tar -t";

pub const PUSH: &str = "Examples:
  burrow tag myapp 127.0.0.1:5000/team/myapp:1.0
  burrow push 127.0.0.1:5000/team/myapp:1.0
  burrow push --all-tags registry.example.com/team/myapp";

pub const SEARCH: &str = "Examples:
  burrow search 127.0.0.1:5000/team
  burrow search --filter is-official=true --limit 5 nginx
  burrow search --format '{{.Name}}' 127.0.0.1:5000/";
pub const VOLUME: &str = "Examples:
  burrow volume create data
  burrow run --rm -v data:/d busybox sh -c 'echo hi > /d/f'
  burrow run --rm -v data:/d:ro busybox cat /d/f
  burrow volume create -o type=tmpfs -o o=size=64m scratch
  burrow volume ls -f dangling=true
  burrow volume rm data
  burrow volume prune -f --all";

pub const NETWORK: &str = "Examples:
  burrow network create web
  burrow run -d --name db --network web --network-alias database busybox httpd -f -p 80
  burrow run --rm --network web busybox wget -qO- http://database/
  burrow network create --subnet 10.89.40.0/24 --label team=a lab
  burrow network ls
  burrow network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' web
  burrow network connect --alias cache web mycontainer
  burrow network rm web
  burrow network prune -f";

pub const BUILDER: &str = "Examples:
  burrow builder prune -f        # the step cache and the step images only it keeps
  burrow builder prune -a -f     # also the RUN --mount=type=cache dirs";

pub const SYSTEM: &str = "Examples:
  burrow system df
  burrow system df -v
  burrow system prune -f --volumes";
pub const OCI: &str = "Examples:
  burrow oci spec --rootless                 # a config.json for ./rootfs
  burrow oci create --bundle . --pid-file ctr.pid ctr
  burrow oci start ctr
  burrow oci state ctr
  burrow oci kill ctr SIGTERM
  burrow oci delete ctr
  burrow oci run --bundle . ctr2
  ln -s $(command -v burrow) ~/bin/burrow-runc
  podman --runtime ~/bin/burrow-runc run --rm busybox echo hi";

pub const EXPORT_BUNDLE: &str = "Examples:
  burrow export-bundle busybox ./bb
  burrow oci run --bundle ./bb job1
  srun --container ./bb echo hi        # with an oci.conf naming burrow-runc";
