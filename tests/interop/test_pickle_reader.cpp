// The pickle subset reader: the values a state_dict pickle holds, the memo, and refusals
// (truncation, unknown opcodes, globals a weights file never needs).
#include <gtest/gtest.h>

#include "interop/legacy_fixture.h"
#include "mer/interop/pickle_reader.h"

namespace mer::interop {
namespace {

using testing::PickleBytes;
using Kind = PickleValue::Kind;

PickleRef read_all(const std::string& bytes, PickleReadOptions options = {}) {
  size_t offset = 0;
  auto v = read_pickle(bytes, &offset, options);
  EXPECT_EQ(offset, bytes.size());
  return v;
}

TEST(PickleReader, ReadsScalarsContainersAndTheMemo) {
  PickleBytes p;
  p.proto().op('}').raw("q\x00", 2).op('(').text("a").integer(-5).text("b").op(']').raw("q\x01", 2);
  p.raw("G\x3f\xf8\x00\x00\x00\x00\x00\x00", 9).op('a');  // 1.5, big-endian
  p.text("c").raw("h\x01", 2).text("d").raw("\x8a\x02\x00\x80", 4).op('u').stop();
  const auto v = read_all(p.str());
  ASSERT_TRUE(v->is(Kind::kDict));
  ASSERT_EQ(v->entries.size(), 4u);
  EXPECT_EQ(v->entries[0].first->text, "a");
  EXPECT_EQ(v->entries[0].second->integer, -5);
  ASSERT_TRUE(v->entries[1].second->is(Kind::kList));
  EXPECT_DOUBLE_EQ(v->entries[1].second->items.at(0)->number, 1.5);
  EXPECT_EQ(v->entries[2].second, v->entries[1].second);  // the memo gives the same object
  EXPECT_EQ(v->entries[3].second->integer, -32768);        // LONG1 is two's complement
}

TEST(PickleReader, RefusesGlobalsAWeightsFileDoesNotNeed) {
  PickleBytes p;
  p.proto().global("os", "system").text("echo hi").raw("\x85", 1).op('R').stop();
  try {
    read_all(p.str());
    FAIL() << "a call to os.system was accepted";
  } catch (const PickleError& e) {
    EXPECT_NE(std::string(e.what()).find("os.system"), std::string::npos) << e.what();
  }
}

TEST(PickleReader, EveryTruncationAndAnUnknownOpcodeThrow) {
  PickleBytes p;
  p.proto().op('}').op('(').text("key").integer(7).op('u').stop();
  const auto& bytes = p.str();
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW(read_all(bytes.substr(0, n)), PickleError) << "prefix of " << n << " bytes";
  }
  EXPECT_THROW(read_all(std::string("\x80\x02\xff.", 4)), PickleError);
  EXPECT_THROW(read_all(std::string("\x80\x02h\x05.", 5)), PickleError);  // undefined memo entry
  EXPECT_THROW(read_all(std::string("\x80\x02u.", 4)), PickleError);      // no MARK
}

TEST(PickleReader, PersistentIdsGoThroughTheCallback) {
  PickleBytes p;
  p.proto().text("storage-7").op('Q').stop();
  EXPECT_THROW(read_all(p.str()), PickleError);  // no callback: refused
  PickleReadOptions options;
  options.persistent_load = [](const PickleRef& id) {
    auto v = std::make_shared<PickleValue>();
    v->kind = Kind::kString;
    v->text = "resolved " + id->text;
    return v;
  };
  EXPECT_EQ(read_all(p.str(), options)->text, "resolved storage-7");
}

}  // namespace
}  // namespace mer::interop
