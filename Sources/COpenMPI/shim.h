// Open MPI from Debian's libopenmpi-dev. Only Sources/CoDEMPI/MPI.swift imports this module.
// Open MPI's predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are macros over global
// structs, which Swift cannot import; these inline functions hand them over.
#include <mpi.h>

static inline MPI_Comm codekit_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype codekit_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype codekit_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype codekit_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op codekit_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op codekit_mpi_max(void) { return MPI_MAX; }
static inline MPI_Errhandler codekit_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline void *codekit_mpi_in_place(void) { return MPI_IN_PLACE; }
