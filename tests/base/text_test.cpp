// Untrusted text on its way to a person (base/text.h): nothing a terminal acts on gets
// through, and a cut never splits a character.
#include "base/text.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

TEST(TerminalSafe, EscapesEverythingATerminalActsOn) {
  EXPECT_EQ(TerminalSafe("\x1b[2J\x1b]0;owned\x07"), "\\x1b[2J\\x1b]0;owned\\x07");  // C0: CSI, OSC, BEL
  EXPECT_EQ(TerminalSafe("a\x7f"), "a\\x7f");                                       // DEL
  EXPECT_EQ(TerminalSafe("\xc2\x9b" "31m"), "\\xc2\\x9b" "31m");                      // C1 CSI as UTF-8
  EXPECT_EQ(TerminalSafe("user\xe2\x80\xae" "gpj.exe"), "user\\xe2\\x80\\xae" "gpj.exe");  // RLO
  EXPECT_EQ(TerminalSafe("\xe2\x81\xa6x"), "\\xe2\\x81\\xa6x");                       // LRI
  EXPECT_EQ(TerminalSafe("line\nnext\r"), "line\\x0anext\\x0d") << "one line stays one line";
  EXPECT_EQ(TerminalSafe("\xff\xc3"), "\\xff\\xc3") << "bytes that are not UTF-8";
}

TEST(TerminalSafe, EscapesMarksAndSeparatorsThatReorderOrBreakALine) {
  EXPECT_EQ(TerminalSafe("a\xe2\x80\x8e" "b"), "a\\xe2\\x80\\x8e" "b");  // LRM
  EXPECT_EQ(TerminalSafe("a\xe2\x80\x8f" "b"), "a\\xe2\\x80\\x8f" "b");  // RLM
  EXPECT_EQ(TerminalSafe("a\xd8\x9c" "b"), "a\\xd8\\x9c" "b");              // ALM
  EXPECT_EQ(TerminalSafe("a\xe2\x80\xa8" "b"), "a\\xe2\\x80\\xa8" "b");  // LINE SEPARATOR
  EXPECT_EQ(TerminalSafe("a\xe2\x80\xa9" "b"), "a\\xe2\\x80\\xa9" "b");  // PARAGRAPH SEPARATOR
  EXPECT_EQ(TerminalSafe("\xe2\x80\x94 \xd8\xa7"), "\xe2\x80\x94 \xd8\xa7") << "an em dash and an alef stay";
}

TEST(TerminalSafe, KeepsTextAndBackslashesAsTheyAre) {
  EXPECT_EQ(TerminalSafe("caf\xc3\xa9 \xe2\x82\xac 10 \xf0\x9f\x90\xb3"), "caf\xc3\xa9 \xe2\x82\xac 10 \xf0\x9f\x90\xb3");
  EXPECT_EQ(TerminalSafe("C:\\path \\x1b"), "C:\\path \\x1b") << "already escaped text is not escaped twice";
  EXPECT_EQ(Printable("C:\\path"), "C:\\x5cpath") << "Printable shows raw names faithfully";
}

TEST(TerminalSafe, CutsOnACharacterBoundary) {
  const std::string euros = "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac";  // three 3-byte characters
  EXPECT_EQ(TerminalSafe(euros, 7), "\xe2\x82\xac\xe2\x82\xac...");
  EXPECT_EQ(TerminalSafe(euros, 5), "\xe2\x82\xac...");
  EXPECT_EQ(TerminalSafe(std::string(10, 'a'), 4), "aaaa...");
}

}  // namespace
}  // namespace banger
