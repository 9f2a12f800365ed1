// Whether this translation unit is compiled with AddressSanitizer (clang or gcc
// -fsanitize=address; build-asan/, docs/security.md). A few things must differ there:
// libsentencepiece cannot be loaded with RTLD_DEEPBIND, and ASan's shadow memory and
// redzones make resident-memory measurements meaningless.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define REXDRUG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REXDRUG_ASAN 1
#endif
#endif
#ifndef REXDRUG_ASAN
#define REXDRUG_ASAN 0
#endif

namespace rexdrug {
inline constexpr bool kAddressSanitizer = REXDRUG_ASAN;
}  // namespace rexdrug
