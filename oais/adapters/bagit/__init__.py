"""The project's own BagIt 1.0 (RFC 8493) reader and writer.

See ``docs/decisions/0002-own-bagit-code.md`` for why it does not wrap bagit-python.
"""

from oais.adapters.bagit.codec import BagItCodec
from oais.adapters.bagit.local import DirectoryBagFiles

__all__ = ["BagItCodec", "DirectoryBagFiles"]
