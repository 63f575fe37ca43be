"""localaws: moto 5.2.5 in-process plus the AWS behaviours moto lacks.

Run with ``python -m localaws`` (this directory on PYTHONPATH / as cwd).
"""

__version__ = "0.1.0"
