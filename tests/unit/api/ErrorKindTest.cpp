// Errors as kinds: the C API's status comes from an Error's kind alone, so a
// reworded message never changes the status a C caller gets; Status keeps
// the kind; prefixes keep it.
#include "api/CApiStatus.hpp"
#include "flexjit/flexjit.hpp"

#include <gtest/gtest.h>

namespace flexjit {
namespace {

TEST(ErrorKind, CStatusFromTheKindNotTheMessage) {
  struct Case {
    ErrorKind kind;
    flexjit_status status;
  };
  const Case cases[] = {
      {ErrorKind::InvalidArgument, FLEXJIT_ERROR_INVALID_ARGUMENT},
      {ErrorKind::NotFound, FLEXJIT_ERROR_NOT_FOUND},
      {ErrorKind::Compile, FLEXJIT_ERROR_COMPILE},
      {ErrorKind::OutOfBounds, FLEXJIT_ERROR_OUT_OF_BOUNDS},
      {ErrorKind::Device, FLEXJIT_ERROR_DEVICE},
      {ErrorKind::Cache, FLEXJIT_ERROR_CACHE},
      {ErrorKind::OutOfMemory, FLEXJIT_ERROR_OUT_OF_MEMORY},
      {ErrorKind::Internal, FLEXJIT_ERROR_INTERNAL},
  };
  // Messages that once decided the status by their words, on every kind:
  // the words change nothing.
  const char *messages[] = {"", "a value too large for the store, reworded",
                            "the cache's byte bound", "read buffer 'x' out of bounds"};
  for (const Case &c : cases)
    for (const char *m : messages) {
      Error e{c.kind, m};
      EXPECT_EQ(capiStatusOf(e.kind), c.status) << int(c.kind) << " '" << m << "'";
    }
}

TEST(ErrorKind, StatusAndPrefixKeepTheKind) {
  Status st = Error{ErrorKind::Cache, "too large"};
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.kind(), ErrorKind::Cache);
  EXPECT_EQ(st.message(), "too large");
  Error back = st.error().prefixed("block mask on cuda:0: ");
  EXPECT_EQ(back.kind, ErrorKind::Cache);
  EXPECT_EQ(back.message, "block mask on cuda:0: too large");
  EXPECT_TRUE(Status::success().ok());
  EXPECT_EQ(Status::success().message(), "");
}

// Errors made deep inside keep their kind up to the Session's caller.
TEST(ErrorKind, ThroughTheSession) {
  Cache cache;
  SessionOptions opts;
  opts.cache = &cache;
  Session session(opts);
  auto bad = Program::fromSource("bad.flex", "mask m(b, h, q, kv) = q >= kvv\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Compile);
  auto missing = Program::fromFile("/nonexistent/dir/x.flex");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
  auto value = parseValue(ScalarType::I32, "1.5");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.error().kind, ErrorKind::InvalidArgument);
  auto device = Device::parse("tpu");
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.error().kind, ErrorKind::InvalidArgument);
}

} // namespace
} // namespace flexjit
