"""What runs inside the function: exactly the files the Lambda layer ships.

The layer installs this package as ``_lambda_sandbox`` (``/opt/python/_lambda_sandbox``), so a
function with a module or package of its own called ``sandbox`` can never shadow it; every
import inside this package is relative for that reason. Nothing here imports the tooling
(``sandbox.profile``, ``sandbox.fleet``, ...) or any third-party package, and the cold-start
path imports no more of the standard library than it needs.

Entry points: :mod:`.bootstrap` (the Lambda handler the exec wrapper substitutes) and
:func:`.install.install` (any Python process).
"""
