//! The built-in, stateful Auth0 Management API emulator (being built).
