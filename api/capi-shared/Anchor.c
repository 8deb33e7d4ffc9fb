/* libflexjit_capi.so is libflexjit.a linked whole (CMakeLists.txt); a shared
 * library target needs one source of its own. */
int capi_shared_anchor = 1;
