// Anchor translation unit for the precompiled LibTorch header target.
#include "torch_pch.h"
