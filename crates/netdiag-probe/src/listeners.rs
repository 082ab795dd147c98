//! TODO(helper): listeners
