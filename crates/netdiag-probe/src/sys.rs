//! TODO(helper): sys
