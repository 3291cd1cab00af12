#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
#include <zlib.h>

// zlib's init entry points are macros that pass the library version and struct size; Swift cannot call them.
static inline int czlib_inflate_init2(z_streamp _Nonnull stream, int window_bits) {
    return inflateInit2(stream, window_bits);
}
#endif
