"""Build configuration for the optional C extension (the rest lives in pyproject.toml).

``sandbox/runtime/_core.c`` is built for the running interpreter on install (``pip install -e .``
puts it beside its source). ``optional=True``: where it cannot be built (no compiler, no
headers), the install still succeeds and the runtime uses its pure-Python core.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sandbox.runtime._core",
            sources=["sandbox/runtime/_core.c"],
            extra_compile_args=["-std=gnu11", "-O2", "-fvisibility=hidden"],
            libraries=["dl"],  # dlopen/dlsym: SQLite's VFS (glibc < 2.34 keeps them in libdl)
            optional=True,
        )
    ]
)
