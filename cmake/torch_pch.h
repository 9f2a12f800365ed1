// Precompiled header: the only place the full LibTorch API is pulled in.
#pragma once
#include <torch/torch.h>
