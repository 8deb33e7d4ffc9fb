# The CUDA toolkit is needed only for cuda.h (the driver API's declarations;
# the driver itself is dlopen'ed at run time) and, in tests, ptxas.
find_path(FLEXJIT_CUDA_INCLUDE cuda.h
  HINTS /usr/local/cuda/include /usr/local/cuda-13.0/include /usr/include ENV CUDA_HOME PATH_SUFFIXES include)
find_program(FLEXJIT_PTXAS ptxas HINTS /usr/local/cuda/bin ENV CUDA_HOME PATH_SUFFIXES bin)
if(FLEXJIT_PTXAS)
  message(STATUS "ptxas: ${FLEXJIT_PTXAS}")
else()
  message(STATUS "ptxas not found: PTX assembly tests will skip")
endif()
# cuobjdump (tests read the SASS of Hopper kernels: HGMMA, UTMALDG, SYNCS):
# the toolkit's, or the one scripts/bootstrap.sh fetches.
find_program(FLEXJIT_CUOBJDUMP cuobjdump
  HINTS /usr/local/cuda/bin ${PROJECT_SOURCE_DIR}/.deps/cuda-cuobjdump/nvidia/cu13/bin
  ENV CUDA_HOME PATH_SUFFIXES bin)
if(NOT FLEXJIT_CUOBJDUMP)
  set(FLEXJIT_CUOBJDUMP "")
  message(STATUS "cuobjdump not found: SASS checks will skip")
endif()
