# Finds LLVM/MLIR 22 (Debian: /usr/lib/llvm-22) and provides, for targets to
# link as they need them (never globally):
#   flexjit_llvm   LLVM's headers and definitions, and libLLVM (LLVMSupport's
#                  hashing, JSON, ... and the code generators)
#   flexjit_mlir   MLIR's headers, and libMLIR (with flexjit_llvm)
#   flexjit_link_options(<target>)  for executables and shared libraries:
#     default            nothing (libMLIR.so and libLLVM.so come with the
#                        libraries above: fast links)
#     FLEXJIT_STATIC=ON  static MLIR/LLVM archives in one group at the end of
#                        every link line, libstdc++ static, unused sections
#                        dropped: runs without LLVM
set(FLEXJIT_LLVM_ROOT "/usr/lib/llvm-22" CACHE PATH "LLVM/MLIR 22 install prefix")
find_package(MLIR REQUIRED CONFIG HINTS ${FLEXJIT_LLVM_ROOT}/lib/cmake/mlir)
find_package(LLVM REQUIRED CONFIG HINTS ${FLEXJIT_LLVM_ROOT}/lib/cmake/llvm)
if(NOT LLVM_VERSION_MAJOR EQUAL 22)
  message(FATAL_ERROR "flexjit needs LLVM/MLIR 22, found ${LLVM_PACKAGE_VERSION} (set FLEXJIT_LLVM_ROOT)")
endif()
message(STATUS "LLVM ${LLVM_PACKAGE_VERSION} at ${LLVM_DIR}; MLIR at ${MLIR_DIR}")

list(APPEND CMAKE_MODULE_PATH "${MLIR_CMAKE_DIR}" "${LLVM_CMAKE_DIR}")
include(TableGen)
include(AddLLVM)
include(AddMLIR)

# RTTI must match LLVM's for every object that shares classes with it.
if(NOT LLVM_ENABLE_RTTI)
  add_compile_options(-fno-rtti)
endif()

set(FLEXJIT_LLVM_BIN "${FLEXJIT_LLVM_ROOT}/bin")

if(FLEXJIT_STATIC)
  file(GLOB _mlir_archives "${FLEXJIT_LLVM_ROOT}/lib/libMLIR*.a")
  list(FILTER _mlir_archives EXCLUDE REGEX "Test|libMLIRPython|CAPI")
  file(GLOB _llvm_archives "${FLEXJIT_LLVM_ROOT}/lib/libLLVM*.a")
  list(FILTER _llvm_archives EXCLUDE REGEX "libLLVMTableGen|libLLVMTestingSupport")
  # Archive members are pulled in only when referenced, so naming them all in
  # one group costs link time, not size. They go at the very end of every
  # link line (after every flexjit library, whatever the targets' link order),
  # with zstd/zlib static and libstdc++ static.
  string(JOIN " " _archives ${_mlir_archives} ${_llvm_archives})
  set(CMAKE_CXX_STANDARD_LIBRARIES
      "-Wl,--start-group ${_archives} -Wl,--end-group -Wl,-Bstatic -lzstd -lz -Wl,-Bdynamic -lpthread -ldl -lm -lrt")
endif()

add_library(flexjit_llvm INTERFACE)
target_include_directories(flexjit_llvm SYSTEM INTERFACE ${LLVM_INCLUDE_DIRS})
separate_arguments(_llvm_definitions UNIX_COMMAND "${LLVM_DEFINITIONS}")
target_compile_options(flexjit_llvm INTERFACE ${_llvm_definitions})

add_library(flexjit_mlir INTERFACE)
target_include_directories(flexjit_mlir SYSTEM INTERFACE ${MLIR_INCLUDE_DIRS})
if(FLEXJIT_STATIC)
  target_link_libraries(flexjit_mlir INTERFACE flexjit_llvm)
else()
  target_link_libraries(flexjit_llvm INTERFACE LLVM)
  target_link_libraries(flexjit_mlir INTERFACE MLIR flexjit_llvm)
endif()

function(flexjit_link_options target)
  if(NOT FLEXJIT_STATIC)
    return()
  endif()
  # The archives themselves come from CMAKE_CXX_STANDARD_LIBRARIES (above).
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "EXECUTABLE")
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc -Wl,--gc-sections)
  elseif(_type STREQUAL "SHARED_LIBRARY")
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
  endif()
endfunction()
