// OpenBLAS (cblas) and LAPACKE from Debian's libopenblas-dev and liblapacke-dev.
// Only Sources/CoDECore/BLAS.swift imports this module.
#include <cblas.h>
#include <lapacke.h>
