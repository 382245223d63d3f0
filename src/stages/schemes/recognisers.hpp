// The list of scheme recognisers (one file per scheme in src/stages/schemes/).
#pragma once

#include <vector>

#include "stages/schemes/schemes.hpp"

namespace amn::stages {

// Declare each recogniser here and add it to kRecognisers.

inline const std::vector<Recogniser> kRecognisers = {};

}  // namespace amn::stages
