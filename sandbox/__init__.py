"""lambda-sandbox: learn-then-enforce runtime sandbox for Python AWS Lambda functions."""
