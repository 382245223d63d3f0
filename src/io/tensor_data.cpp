// placeholder
#include "io/tensor_data.hpp"
