#ifndef CHDF5_SHIM_H
#define CHDF5_SHIM_H
#include <hdf5.h>

// HDF5's handles are macros over globals that H5open sets up, which Swift cannot import: one accessor each.
static inline hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_all(void) { return H5S_ALL; }
static inline hid_t chdf5_default(void) { return H5P_DEFAULT; }
static inline unsigned chdf5_read_only(void) { return H5F_ACC_RDONLY; }
static inline hid_t chdf5_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline unsigned chdf5_truncate(void) { return H5F_ACC_TRUNC; }
// A link-creation property list that makes the missing groups of a path.
static inline hid_t chdf5_intermediate_groups(void) {
    hid_t list = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(list, 1);
    return list;
}
// Errors are returned, not printed: the caller turns them into one line.
static inline void chdf5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#endif
