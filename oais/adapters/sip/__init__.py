"""Reading SIPs in every submitted form: folders, zip archives, tar archives (plain or compressed).

Every source implements :class:`oais.domain.ports.SipSource`, lists names without reading content,
streams members, never changes the SIP, and survives pickling into a worker process.
"""

from typing import TYPE_CHECKING

from oais.adapters.sip.bagfiles import SourceBagFiles
from oais.adapters.sip.directory import DirectorySource
from oais.adapters.sip.reader import FileSystemSipReader
from oais.adapters.sip.tarsource import TarSource
from oais.adapters.sip.zipsource import ZipSource
from oais.domain.ports import BagFiles, SipReader, SipSource

__all__ = ["DirectorySource", "FileSystemSipReader", "SourceBagFiles", "TarSource", "ZipSource"]

if TYPE_CHECKING:  # mypy proves that every class implements its port exactly

    def _conforms(
        d: DirectorySource, z: ZipSource, t: TarSource, r: FileSystemSipReader, b: SourceBagFiles
    ) -> tuple[SipSource, SipSource, SipSource, SipReader, BagFiles]:
        return d, z, t, r, b
