"""Code shared by the async inference Lambda functions (copied to each function's asset root)."""
