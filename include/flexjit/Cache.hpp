// The one bounded cache of the runtime (docs/runtime.md, "The cache"), and the disk
// cache of compiled PTX.
//
// One LRU holds compiled kernels and block masks, bounded by bytes and by
// entries. A key holds what decides the value and nothing else. Values are
// type-erased shared objects: the cache drops its reference on eviction or
// clear, and the object's deleter (a Module's cuModuleUnload, a
// DeviceBuffer's cuMemFree, or any release action given with makeCacheValue)
// runs then, or later when the last caller still holding the object lets it
// go, so an entry evicted while a kernel is being launched from another
// thread stays valid for that launch.
#pragma once

#include "flexjit/Error.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace flexjit {

/// Compiled kernels, block masks, and the device contexts of mods (their
/// param values and buffer copies in device memory, shared by launches).
enum class CacheKind : uint8_t { Kernel = 0, BlockMask = 1, ModContext = 2 };
const char *cacheKindName(CacheKind kind);

/// The device a cache entry lives on; CPU-side entries (CPU block masks,
/// CPU-JIT'd kernels) use kCpuDevice.
constexpr int kCpuDevice = -1;

/// 32 lowercase hex digits: 128 bits of BLAKE3 of the bytes (LLVM's; about
/// 17 times SHA-256's speed here, docs/runtime.md). For buffer contents in
/// block-mask keys.
std::string hashBytes(const void *data, size_t size);
std::string hashBytes(const std::string &bytes);

/// What decides a compiled kernel.
struct KernelKey {
  /// Canonical fingerprints of the mods fused in (flexjit::fingerprint), in
  /// the kernel's order (e.g. {score mod, mask mod}); "" for an absent mod.
  std::vector<std::string> modFingerprints;
  std::string kernel;   ///< which template: "attn_fwd", "attn_bwd", "blockmask"...
  int headDimQK = 0;
  int headDimV = 0;
  std::string dtype;    ///< "f32", "f16", "bf16"
  int gqaRatio = 1;     ///< query heads per kv head
  int blockM = 0, blockN = 0;
  std::string options;  ///< canonical text of any other compile options
  std::string arch;     ///< "sm_90a", or "cpu"
  int device = kCpuDevice;
};

/// One runtime value a mask reads, in canonical text: a param's value
/// ("i32:5", "f32:0x3fc00000" for the bits of 1.5f) or a buffer's dims and
/// contents ("i32[3,8]:" + hashBytes(data)).
struct NamedValue {
  std::string name;
  std::string value;
};

/// Canonical NamedValues from the mod ABI's representation: a param slot
/// (ModABI.h: i32/i64 sign-extended, bool 0/1, f32 bits in the low 32) of
/// type "bool", "i32", "i64" or "f32" -> "i32:-3", "f32:0x3fc00000"; a
/// buffer's type, dims and contents -> "f32[4,16]:<hashBytes(data)>".
NamedValue paramValue(const std::string &name, const std::string &type, int64_t slot);
NamedValue bufferValue(const std::string &name, const std::string &type,
                       const std::vector<int64_t> &dims, const void *data,
                       size_t bytes);
/// The value of a buffer in device memory: its type, dims and address (its
/// contents are read on the device, where they may change between calls).
NamedValue deviceBufferValue(const std::string &name, const std::string &type,
                             const std::vector<int64_t> &dims, uint64_t address, size_t bytes);

/// What decides a block mask; deliberately no data type, so fp32/fp16/bf16
/// attention calls share one mask.
struct BlockMaskKey {
  std::string maskFingerprint;
  int64_t B = 1, H = 1, qLen = 0, kvLen = 0;
  int qBlock = 128, kvBlock = 128;
  std::vector<NamedValue> params;   ///< sorted by name (as the ABI slots are)
  std::vector<NamedValue> buffers;  ///< sorted by name
  int device = kCpuDevice;
};

/// A hashed, comparable cache key built from a structured key. Every field
/// is length-prefixed into an unambiguous byte string, so equal keys are
/// equal field by field.
class CacheKey {
public:
  static CacheKey kernel(const KernelKey &key);
  static CacheKey blockMask(const BlockMaskKey &key);
  /// A mod's device context holding only params: their ABI slots, device.
  static CacheKey modContext(int device, const std::vector<int64_t> &paramSlots);
  /// A mod's device context with buffer copies: the mod's fingerprint (its
  /// kernels write the context's error record, whose report names the mod),
  /// the param slots, each buffer's canonical value (bufferValue: type, dims
  /// and a hash of its contents) and the device. Equal contents give equal
  /// keys, whatever memory holds them.
  static CacheKey modContext(int device, const std::vector<int64_t> &paramSlots,
                             const std::vector<NamedValue> &buffers,
                             const std::string &modFingerprint);

  CacheKind kind() const { return kind_; }
  int device() const { return device_; }
  size_t hash() const { return hash_; }
  const std::string &bytes() const { return bytes_; }
  bool operator==(const CacheKey &o) const {
    return hash_ == o.hash_ && kind_ == o.kind_ && bytes_ == o.bytes_;
  }

private:
  CacheKey(CacheKind kind, int device, std::string bytes);
  CacheKind kind_;
  int device_;
  size_t hash_;
  std::string bytes_;
};

struct CacheKeyHash {
  size_t operator()(const CacheKey &k) const { return k.hash(); }
};

/// A cached object and the bytes it is accounted as.
struct CacheValue {
  std::shared_ptr<void> object;
  size_t bytes = 0;
};

/// Wraps an object with an explicit release action run when the cache and
/// every caller have let go of it (after eviction or clear).
template <class T>
CacheValue makeCacheValue(T object, size_t bytes,
                          std::function<void(T &)> release = {}) {
  auto *p = new T(std::move(object));
  std::shared_ptr<void> sp(p, [release = std::move(release)](void *raw) {
    T *t = static_cast<T *>(raw);
    if (release)
      release(*t);
    delete t;
  });
  return CacheValue{std::move(sp), bytes};
}

struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;    ///< lookups that built (or failed to build) the value
  uint64_t evictions = 0; ///< dropped for room (not clears)
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t peakBytes = 0;
  uint64_t failures = 0;  ///< factories that returned an Error
};

struct CacheLimits {
  size_t maxBytes = size_t(1) << 30; ///< 1 GiB
  size_t maxEntries = 4096;
};

class Cache {
public:
  explicit Cache(CacheLimits limits = {});
  ~Cache();
  Cache(const Cache &) = delete;
  Cache &operator=(const Cache &) = delete;

  using Factory = std::function<Result<CacheValue>()>;

  /// The cached object for `key`, or builds it with `factory` (once: threads
  /// asking for a key being built wait for that build). A failing factory's
  /// Error goes to every waiter and nothing is cached. A value larger than
  /// the byte bound is an Error (nothing cached: it would evict everything
  /// and still not fit). The factory runs without the cache's lock held,
  /// and may use the cache for other keys.
  Result<std::shared_ptr<void>> getOrCreate(const CacheKey &key,
                                            const Factory &factory);

  template <class T, class F>
  Result<std::shared_ptr<T>> getOrCreateAs(const CacheKey &key, F &&factory) {
    auto r = getOrCreate(key, Factory(std::forward<F>(factory)));
    if (!r.ok())
      return r.error();
    return std::static_pointer_cast<T>(*r);
  }

  /// The Error getOrCreate gives for a value over the byte bound, for a
  /// value of `bytes` (success when it fits): for callers that know the
  /// size before building, so that nothing is built to be refused. Counts
  /// nothing.
  Status admits(CacheKind kind, size_t bytes) const;

  /// The cached object or nullptr (counts a hit or a miss).
  std::shared_ptr<void> lookup(const CacheKey &key);

  /// Whether a ready entry for `key` is there, without counting a hit or a
  /// miss or touching the LRU order (for a caller deciding what to ask for).
  bool contains(const CacheKey &key);

  /// Drops every entry (of one device). Builds in flight when a clear
  /// happens return their value to their callers but do not enter the cache.
  void clear();
  void clearDevice(int device);

  /// New bounds; evicts at once (least recently used first) to meet them.
  void setLimits(CacheLimits limits);
  CacheLimits limits() const;

  CacheStats stats(CacheKind kind, int device) const;
  /// All kinds and devices; peakBytes is the peak of the total.
  CacheStats totals() const;
  struct StatsRow {
    CacheKind kind;
    int device;
    CacheStats stats;
  };
  /// One row per (kind, device) seen, ordered by kind then device.
  std::vector<StatsRow> statsRows() const;
  /// Zeroes hit/miss/eviction/failure counters; peaks restart at bytes now.
  void resetCounters();

private:
  struct Pending;
  /// Keys live in the map's nodes, which never move; the list points at them.
  using Lru = std::list<const CacheKey *>;

  struct Entry {
    std::shared_ptr<void> object;
    size_t bytes = 0;
    Lru::iterator lruPos;
    std::shared_ptr<Pending> pending; ///< non-null while being built
  };

  CacheStats &statsFor(CacheKind kind, int device);
  void account(const CacheKey &key, int64_t deltaBytes, int64_t deltaEntries);
  /// Evicts LRU entries until `extra` more would fit the bounds; evicted
  /// objects go to `dropped`, to be released outside the lock.
  void evictToLimits(size_t extraBytes, size_t extraEntries,
                     std::vector<std::shared_ptr<void>> &dropped);
  void eraseReady(std::unordered_map<CacheKey, Entry, CacheKeyHash>::iterator it,
                  std::vector<std::shared_ptr<void>> &dropped);
  uint64_t generationOf(int device) const;

  mutable std::mutex mu_;
  std::condition_variable built_;
  CacheLimits limits_;
  std::unordered_map<CacheKey, Entry, CacheKeyHash> map_;
  Lru lru_; ///< front = most recently used; only ready entries
  size_t bytes_ = 0, readyEntries_ = 0, peakBytes_ = 0;
  std::vector<StatsRow> stats_;
  uint64_t allGeneration_ = 0;
  std::vector<std::pair<int, uint64_t>> deviceGenerations_;
};

/// The process-wide cache the runtime uses (default limits).
Cache &globalCache();

//===----------------------------------------------------------------------===//
// Disk cache of compiled PTX
//===----------------------------------------------------------------------===//

/// flexjit's version as built ("0.1.0").
const char *flexjitVersionString();

/// What names a compiled artifact on disk.
struct DiskCacheKey {
  /// The version of the code that made the artifact, so that an artifact
  /// other code wrote is never read back: for PTX, the code generator's
  /// (codegenVersionString(), Compiler.hpp), which the API layer passes in
  /// (the runtime knows nothing of the compiler).
  std::string flexjitVersion;
  std::string llvmVersion; ///< e.g. "22.1.8"; the caller passes LLVM's version
  std::string arch;        ///< "sm_90a"
  std::string options;     ///< canonical compile options
  std::string kernelKey;   ///< CacheKey::bytes() of the kernel, or any canonical text
};

/// The default bound on the bytes of PTX a disk cache keeps (1 GiB).
constexpr uint64_t kDefaultDiskCacheBytes = uint64_t(1) << 30;

struct DiskCacheConfig {
  /// Empty: $FLEXJIT_CACHE_DIR, else $XDG_CACHE_HOME/flexjit, else
  /// $HOME/.cache/flexjit, else (HOME unset) ${TMPDIR:-/tmp}/flexjit-cache-<uid>,
  /// which is created 0700 and refused (the disk cache turns off, nothing is
  /// read from it) unless it is a real directory of this user's that nobody
  /// else may write.
  std::string directory;
  /// Called once, the first time the disk cache turns itself off (directory
  /// not creatable, read-only, full, refused); nullptr: a single line on stderr.
  std::function<void(const std::string &)> warn;
  /// The most bytes of PTX files (headers included) kept in the directory;
  /// 0: $FLEXJIT_DISK_CACHE_MAX_BYTES, else kDefaultDiskCacheBytes. After
  /// each write, the files used longest ago (written or read: a read touches
  /// the file's mtime) are deleted until the total fits.
  uint64_t maxBytes = 0;
  /// After each write, leftovers untouched for this long are deleted:
  /// temporary files of writers that died, and files written by another code
  /// version (a DiskCacheKey::flexjitVersion other than the one just written:
  /// for PTX, codegenVersionString() of the code generator writing it).
  /// Lock files nobody holds are deleted at once.
  std::chrono::seconds staleAfter = std::chrono::hours(1);
};

struct DiskCacheStats {
  uint64_t hits = 0, misses = 0, writes = 0, corruptRebuilt = 0;
  /// Files deleted to keep within maxBytes, and leftovers deleted (stale
  /// temporary files, lock files nobody held, other code versions' files).
  uint64_t evicted = 0, staleRemoved = 0;
};

/// Files: <dir>/<hash>.ptx with a header (magic, format version, key hash,
/// code version, payload length, checksum) and, while a process compiles
/// it, <dir>/<hash>.lock for flock. Writes go to a temporary file renamed
/// into place, so readers never see half a file; a file whose header or
/// checksum does not match is deleted and rebuilt. docs/runtime.md has the
/// format, the bound and the clean-up.
class DiskCache {
public:
  explicit DiskCache(DiskCacheConfig config = {});

  /// The artifact for `key`: from disk, else built by `compile` under a lock
  /// shared by every process using the directory (so N processes starting
  /// together compile once), written, and returned. Without a usable disk it
  /// just compiles. `compile`'s Error is returned as is.
  Result<std::string> getOrCompile(const DiskCacheKey &key,
                                   const std::function<Result<std::string>()> &compile);

  /// A cached artifact, if a valid one is on disk.
  std::optional<std::string> load(const DiskCacheKey &key);
  /// Writes one (atomically); a failure turns the disk cache off (one warning).
  Status store(const DiskCacheKey &key, const std::string &payload);

  /// 64 hex digits (SHA-256 of the key's length-prefixed fields) naming the
  /// key's files.
  static std::string keyHash(const DiskCacheKey &key);
  const std::string &directory() const { return dir_; }
  /// The bound on the directory's PTX bytes in force.
  uint64_t maxBytes() const { return maxBytes_; }
  /// False once the disk cache has turned itself off (or refused its
  /// directory).
  bool enabled() const;
  DiskCacheStats stats() const;
  /// Where the file for a key lives (for tests and tools).
  std::string pathFor(const DiskCacheKey &key) const;
  /// Whether a file for `key` is there (not read, not validated, not
  /// counted): for a caller choosing what to ask for; getOrCompile still
  /// checks the file and rebuilds a corrupt one.
  bool contains(const DiskCacheKey &key) const;

  /// The process-wide disk cache (directory from the environment; its one
  /// warning goes to stderr unless setWarningHandler is called first).
  static DiskCache &global();
  void setWarningHandler(std::function<void(const std::string &)> warn);

private:
  enum class ReadResult { Missing, Valid, Corrupt };
  ReadResult readValid(const std::string &path, const std::string &hash,
                       std::string &payload);
  /// False when the disk cache is off; checks the private fallback directory
  /// once, before anything in it is read.
  bool usable() const;
  bool ensureDirectory();
  void disable(const std::string &why) const;
  bool writeFile(const std::string &path, const std::string &hash,
                 const DiskCacheKey &key, const std::string &payload);
  /// Deletes leftovers (files of a code version other than `version`, the
  /// one just written, among them) and, over maxBytes, the files used
  /// longest ago (never `keep`).
  void sweep(const std::string &keep, const std::string &version);

  std::string dir_;
  bool privateDir_ = false; ///< the HOME-less fallback: checked before use
  uint64_t maxBytes_ = 0;
  std::chrono::seconds staleAfter_;
  mutable std::string maxBytesWarning_; ///< a bad $FLEXJIT_DISK_CACHE_MAX_BYTES, said once
  mutable std::function<void(const std::string &)> warn_;
  mutable std::mutex mu_;
  mutable bool disabled_ = false;
  mutable bool dirChecked_ = false;
  bool dirReady_ = false;
  DiskCacheStats stats_;
};

} // namespace flexjit
