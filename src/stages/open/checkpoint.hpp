// Choosing the tensors of a checkpoint: a state dict wrapped in a PyTorch checkpoint read under
// its own names, --select KEY and --strip-prefix P.
#pragma once

#include "amn/amn.hpp"

namespace amn::stages {

/// Keeps the tensors `selection` asks for (TensorSelection in amn.hpp), renamed; each top-level
/// key whose tensors are left out becomes one Catalog::extras entry, and the description says
/// which state dict was read. Throws Error(Usage) when --select names no tensor, or a name is
/// emptied or made twice by the renaming.
void select_tensors(Catalog& catalog, const TensorSelection& selection);

}  // namespace amn::stages
