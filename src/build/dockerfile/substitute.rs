//! Which instructions expand variables, and which of their parts.
