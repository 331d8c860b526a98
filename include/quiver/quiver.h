// Copyright (c) Quiver authors.
//
// Umbrella header: everything a program embedding Quiver needs.

#ifndef QUIVER_QUIVER_H_
#define QUIVER_QUIVER_H_

#include "quiver/collection.h"  // IWYU pragma: export
#include "quiver/embedder.h"    // IWYU pragma: export
#include "quiver/env.h"         // IWYU pragma: export
#include "quiver/options.h"     // IWYU pragma: export
#include "quiver/record.h"      // IWYU pragma: export
#include "quiver/status.h"      // IWYU pragma: export
#include "quiver/store.h"       // IWYU pragma: export

#endif  // QUIVER_QUIVER_H_
