"""Infrastructure-as-code helpers: the CDK aspect (:mod:`sandbox.iac.cdk`, extra ``cdk``)."""
