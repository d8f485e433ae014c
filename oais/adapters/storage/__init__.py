"""Object stores: the places (locations) that hold copies of AIPs."""
