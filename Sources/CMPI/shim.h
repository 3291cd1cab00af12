#ifndef CMPI_SHIM_H
#define CMPI_SHIM_H
#include <mpi.h>

// OpenMPI's handles are macros over incomplete structs, which Swift cannot import: one accessor per handle.
static inline MPI_Comm _Nonnull cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype _Nonnull cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype _Nonnull cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype _Nonnull cmpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype _Nonnull cmpi_int(void) { return MPI_INT; }
static inline MPI_Op _Nonnull cmpi_sum(void) { return MPI_SUM; }
static inline MPI_Op _Nonnull cmpi_max(void) { return MPI_MAX; }
static inline MPI_Op _Nonnull cmpi_min(void) { return MPI_MIN; }
static inline void * _Nonnull cmpi_in_place(void) { return MPI_IN_PLACE; }

#endif
