#include "controller/template/lexer.h"

#include <gtest/gtest.h>

namespace tachyon::tmpl {
namespace {

std::vector<Token> Lex(std::string_view src, LexerOptions options = {}) {
  auto tokens = Tokenize(src, "t", options);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return tokens.ok() ? *tokens : std::vector<Token>{};
}

TEST(LexerTest, SplitsDataAndTags) {
  auto t = Lex("a {{ x }} b");
  ASSERT_EQ(t.size(), 6u);
  EXPECT_EQ(t[0].type, TokenType::kData);
  EXPECT_EQ(t[0].value, "a ");
  EXPECT_EQ(t[1].type, TokenType::kVariableBegin);
  EXPECT_EQ(t[2].type, TokenType::kName);
  EXPECT_EQ(t[2].value, "x");
  EXPECT_EQ(t[3].type, TokenType::kVariableEnd);
  EXPECT_EQ(t[4].value, " b");
  EXPECT_EQ(t[5].type, TokenType::kEof);
}

TEST(LexerTest, WhitespaceControlStripsBothSides) {
  auto t = Lex("a  \n {{- x -}} \n b");
  EXPECT_EQ(t[0].value, "a");
  EXPECT_EQ(t[4].value, "b");
}

TEST(LexerTest, TrimBlocksEatsOneNewlineAfterBlockTagsOnly) {
  LexerOptions options;
  options.trim_blocks = true;
  auto t = Lex("{% if x %}\n\nA{{ y }}\nB", options);
  // After %}: one newline eaten. After }}: kept.
  EXPECT_EQ(t[4].value, "\nA");
  EXPECT_EQ(t[8].value, "\nB");
}

TEST(LexerTest, RawBlockIsData) {
  auto t = Lex("{% raw %}{{ not a tag }}{% endraw %}");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].value, "{{ not a tag }}");
}

TEST(LexerTest, CommentsVanish) {
  auto t = Lex("a{# hidden {{ x }} #}b");
  EXPECT_EQ(t[0].value, "a");
  EXPECT_EQ(t[1].value, "b");
}

TEST(LexerTest, NumbersAndStrings) {
  auto t = Lex(R"({{ 1_000 0x1f 2.5 1e3 'a\nb' "q" }})");
  EXPECT_EQ(t[1].type, TokenType::kInteger);
  EXPECT_EQ(t[1].value, "1000");
  EXPECT_EQ(t[2].value, "31");
  EXPECT_EQ(t[3].type, TokenType::kFloat);
  EXPECT_EQ(t[4].type, TokenType::kFloat);
  EXPECT_EQ(t[5].value, "a\nb");
  EXPECT_EQ(t[6].value, "q");
}

TEST(LexerTest, AnsibleKeepsBackslashesInExpressionStrings) {
  LexerOptions options;
  options.raw_strings_in_variables = true;
  auto t = Lex(R"({{ '\d+' }})", options);
  EXPECT_EQ(t[1].value, R"(\d+)");
}

TEST(LexerTest, BracesInsideDictLiteralDoNotCloseTheTag) {
  auto t = Lex("{{ {'a': {'b': 1}} }}");
  EXPECT_EQ(t.back().type, TokenType::kEof);
  EXPECT_EQ(t[t.size() - 2].type, TokenType::kVariableEnd);
}

TEST(LexerTest, UnterminatedTagNamesLineAndColumn) {
  auto t = Tokenize("line1\n  {{ x", "my.j2", {});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("my.j2"), std::string::npos);
  EXPECT_NE(t.status().message().find("line 2, column 3"), std::string::npos);
}

TEST(LexerTest, DropsOneTrailingNewline) {
  auto t = Lex("x\n\n");
  EXPECT_EQ(t[0].value, "x\n");
}

}  // namespace
}  // namespace tachyon::tmpl
