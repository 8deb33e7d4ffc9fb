# Finds LLVM/MLIR 22 (Debian: /usr/lib/llvm-22) and provides
#   flexjit_link_llvm(<target>)  links MLIR and LLVM the way this build wants:
#     default            the shared libMLIR.so and libLLVM.so (fast links)
#     FLEXJIT_STATIC=ON  static MLIR/LLVM archives in one group, libstdc++
#                        static, unused sections dropped: runs without LLVM
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

include_directories(SYSTEM ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})
add_definitions(${LLVM_DEFINITIONS})
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

function(flexjit_link_llvm target)
  if(NOT FLEXJIT_STATIC)
    target_link_libraries(${target} PRIVATE MLIR LLVM)
    return()
  endif()
  # The archives themselves come from CMAKE_CXX_STANDARD_LIBRARIES (above).
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "EXECUTABLE")
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc -Wl,--gc-sections)
  endif()
endfunction()

# LLVM's support library alone (hashing, JSON, threads; no MLIR, no code
# generation), for the runtime. The static build brings it with the archives.
function(flexjit_link_llvm_support target)
  if(NOT FLEXJIT_STATIC)
    target_link_libraries(${target} PUBLIC LLVM)
  endif()
endfunction()
