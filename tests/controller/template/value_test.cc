#include "controller/template/value.h"

#include <gtest/gtest.h>

namespace tachyon::tmpl {
namespace {

TEST(ValueTest, PythonReprOfFloats) {
  EXPECT_EQ(FloatRepr(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FloatRepr(2.0), "2.0");
  EXPECT_EQ(FloatRepr(1e16), "1e+16");
  EXPECT_EQ(FloatRepr(1.5e-7), "1.5e-07");
  EXPECT_EQ(FloatRepr(123456789.123), "123456789.123");
  EXPECT_EQ(FloatRepr(-0.0), "-0.0");
}

TEST(ValueTest, ReprAndStrFollowPython) {
  Json j = Json::parse(R"([1, "it's", null, true, {"a": "q\"x"}])");
  EXPECT_EQ(ToText(j), R"([1, "it's", None, True, {'a': 'q"x'}])");
  EXPECT_EQ(ToText(Json("plain")), "plain");
  EXPECT_EQ(ShapedToText(Json::parse("[1]"), Value::Shape::kTuple), "(1,)");
  EXPECT_EQ(ShapedToText(Json::parse(R"([["a", 1]])"), Value::Shape::kTupleList), "[('a', 1)]");
}

TEST(ValueTest, Truthiness) {
  EXPECT_FALSE(Truthy(Json("")));
  EXPECT_TRUE(Truthy(Json("0")));
  EXPECT_FALSE(Truthy(Json::array()));
  EXPECT_FALSE(Truthy(Json(0.0)));
  EXPECT_FALSE(Truthy(Json(nullptr)));
  EXPECT_TRUE(Truthy(Json::object({{"a", 1}})));
}

TEST(ValueTest, EqualityAcrossNumericTypes) {
  EXPECT_TRUE(Equals(Json(1), Json(1.0)));
  EXPECT_TRUE(Equals(Json(true), Json(1)));
  EXPECT_FALSE(Equals(Json(1), Json("1")));
  EXPECT_TRUE(Equals(Json::parse(R"({"a":1,"b":2})"), Json::parse(R"({"b":2,"a":1})")));
}

TEST(ValueTest, OrderingErrorsLikePython) {
  auto c = Compare(Json(1), Json("a"), "<");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(std::string(c.status().message()), "'<' not supported between instances of 'int' and 'str'");
}

TEST(ValueTest, LiteralEval) {
  auto v = LiteralEval("[1, 'a', None, True, {'k': (1, 2)}, -2.5, false]");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->dump(), R"([1,"a",null,true,{"k":[1,2]},-2.5,false])");
  EXPECT_FALSE(LiteralEval("[1, 2").ok());
  EXPECT_FALSE(LiteralEval("{'a': x}").ok());
  EXPECT_FALSE(LiteralEval("[01]").ok());
}

TEST(ValueTest, Utf8RoundTrip) {
  const std::string s = "héllo ✓ 𝄞";
  EXPECT_EQ(EncodeUtf8(DecodeUtf8(s)), s);
  EXPECT_EQ(CodePointLength(s), 9u);
  EXPECT_EQ(PyUpper("héllo"), "HÉLLO");
}

}  // namespace
}  // namespace tachyon::tmpl
