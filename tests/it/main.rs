//! verifyctl's one integration-test binary.
mod emulator;
