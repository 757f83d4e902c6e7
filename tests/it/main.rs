//! verifyctl's one integration-test binary.
