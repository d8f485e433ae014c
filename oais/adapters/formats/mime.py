"""MIME types for formats whose PRONOM record gives none.

PRONOM's ``<mime>`` wins when present. Otherwise a small, fixed table is used rather than Python's
``mimetypes`` module, whose answers depend on the host's ``/etc/mime.types`` (an archive must give
the same answer on every machine, today and in ten years).
"""

from __future__ import annotations

OCTET_STREAM = "application/octet-stream"

#: PUID -> MIME type, for formats that matter to the archive and lack one in PRONOM.
BY_PUID: dict[str, str] = {
    # HDF5 (no IANA registration; the de-facto type used by HDF Group tools)
    "fmt/286": "application/x-hdf5",
    "fmt/287": "application/x-hdf5",
    "fmt/807": "application/x-hdf5",
    # FITS (RFC 4047), in case a later signature file drops the <mime> element
    "x-fmt/383": "application/fits",
}

#: lower-case extension (no dot) -> MIME type, tried on the matched format's own extensions.
BY_EXTENSION: dict[str, str] = {
    "fits": "application/fits",
    "fit": "application/fits",
    "fts": "application/fits",
    "h5": "application/x-hdf5",
    "hdf5": "application/x-hdf5",
    "he5": "application/x-hdf5",
    "hdf": "application/x-hdf",
    "nc": "application/x-netcdf",
    "cdf": "application/x-cdf",
    "pds": "application/x-pds",
    "lbl": "text/plain",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "txt": "text/plain",
    "md": "text/markdown",
    "json": "application/json",
    "xml": "application/xml",
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jp2": "image/jp2",
    "jpx": "image/jpx",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "gif": "image/gif",
    "zip": "application/zip",
    "gz": "application/gzip",
    "tar": "application/x-tar",
}


def mime_type(puid: str | None, pronom_mimes: tuple[str, ...], extensions: tuple[str, ...]) -> str:
    """The MIME type to record for an identified format.

    Args:
        puid: the format's PUID (None when nothing was identified).
        pronom_mimes: the ``<mime>`` values of the format's record, in order.
        extensions: the extensions the format's record lists, in order.

    Returns:
        The first PRONOM MIME type, else the table's type for the PUID, else for the first of the
        format's extensions the table knows, else ``application/octet-stream``.
    """
    if puid is None:
        return OCTET_STREAM
    if pronom_mimes:
        return pronom_mimes[0]
    if puid in BY_PUID:
        return BY_PUID[puid]
    for extension in extensions:
        found = BY_EXTENSION.get(extension.lower())
        if found:
            return found
    return OCTET_STREAM
