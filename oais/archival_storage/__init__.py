"""archival_storage."""
