// What banger says about itself (#18): help for every command and group however it is
// asked for, the bash completion and the man page, all generated from the command table.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace banger::testing {
namespace {

const std::string kBanger = std::string(BANGER_BIN_DIR) + "/banger ";

// stdout, stderr and the exit status, apart.
struct Split {
  int status;
  std::string out, err;
};
Split RunBanger(const std::string& args) {
  ScratchDir dir("banger-help");
  // Braced: RunCommand sends the group's stderr to stdout, not the command's.
  CommandResult r = RunCommand("{ " + kBanger + args + " 2>" + dir.path() + "/err; }");
  return {r.exit_status, r.output, ReadFile(dir.path() + "/err")};
}

TEST(Help, EveryWayOfAskingAnswersOnStdout) {
  const Split global = RunBanger("--help");
  ASSERT_EQ(global.status, 0) << global.err;
  for (const char* command : {"image pull REF", "image rm IMAGE...", "image cache prune", "system status",
                              "system audit verify", "completion bash", "help [COMMAND]", "exit status"}) {
    EXPECT_NE(global.out.find(command), std::string::npos) << command << " in " << global.out;
  }
  EXPECT_EQ(RunBanger("help").out, global.out);
  EXPECT_EQ(RunBanger("-h").out, global.out);

  const Split image = RunBanger("image --help");
  ASSERT_EQ(image.status, 0) << image.err;
  EXPECT_EQ(image.out.rfind("usage: banger image COMMAND", 0), 0u) << image.out;
  for (const char* command : {"\n  pull REF", "\n  rm IMAGE...", "\n  cache prune", "\n  verify REF"}) {
    EXPECT_NE(image.out.find(command), std::string::npos) << command << " in " << image.out;
  }
  EXPECT_EQ(image.out.find("system"), std::string::npos) << "only the group's commands: " << image.out;
  EXPECT_EQ(RunBanger("help image").out, image.out);
  EXPECT_EQ(RunBanger("image -h").out, image.out);

  const Split system = RunBanger("system --help");
  ASSERT_EQ(system.status, 0) << system.err;
  EXPECT_NE(system.out.find("\n  audit verify"), std::string::npos) << system.out;
  EXPECT_EQ(RunBanger("help system audit").status, 0);
  EXPECT_NE(RunBanger("image cache --help").out.find("\n  prune"), std::string::npos);

  const Split pull = RunBanger("help image pull");
  ASSERT_EQ(pull.status, 0) << pull.err;
  EXPECT_EQ(pull.out, RunBanger("image pull --help").out);
  EXPECT_EQ(pull.out.rfind("usage: banger image pull REF", 0), 0u) << pull.out;
}

TEST(Help, AGroupAloneOrAnUnknownWordIsAUsageErrorOnStderr) {
  const Split bare = RunBanger("image");
  EXPECT_EQ(bare.status, 2);
  EXPECT_EQ(bare.out, "");
  EXPECT_EQ(bare.err.rfind("usage: banger image COMMAND", 0), 0u) << bare.err;
  const struct {
    std::string args, says;
  } cases[] = {
      {"image frob", "banger: error: unknown 'image' command 'frob'\nRun 'banger image --help' for usage.\n"},
      {"system frob --json", "banger: error: unknown 'system' command 'frob'\nRun 'banger system --help' for usage.\n"},
      {"frob", "banger: error: unknown command 'frob'\nRun 'banger --help' for usage.\n"},
      {"help frob", "banger: error: no help for 'frob': it is not a banger command\nRun 'banger --help' for usage.\n"},
      {"system status --bogus", "banger: error: unknown flag --bogus\nRun 'banger system status --help' for usage.\n"},
      {"completion zsh", "banger: error: completion is written for bash only, not 'zsh'\n"
                         "Run 'banger completion --help' for usage.\n"},
  };
  for (const auto& c : cases) {
    const Split r = RunBanger(c.args);
    EXPECT_EQ(r.status, 2) << c.args;
    EXPECT_EQ(r.err, c.says) << c.args;
  }
}

// The script, sourced into bash, completes as a user would type: what `words` (bash
// words, "" the empty one) would be followed by at COMP_CWORD = the last word.
std::string Complete(const std::string& script, const std::string& words) {
  const std::string driver = script + ".driver";
  std::ofstream(driver) << "source " << script << "\nCOMP_WORDS=(" << words
                        << ")\nCOMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n_banger\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n";
  return RunCommand("bash " + driver).output;
}

TEST(Completion, BashCompletesCommandsGroupsFlagsAndPaths) {
  ScratchDir dir("banger-completion");
  const std::string script = dir.path() + "/banger.bash";
  ASSERT_EQ(RunCommand(kBanger + "completion bash > " + script).exit_status, 0);
  CommandResult lint = RunCommand("shellcheck -s bash " + script + " 2>&1");
  EXPECT_EQ(lint.exit_status, 0) << lint.output;

  EXPECT_EQ(Complete(script, "banger \"\""), "--help\n--version\ncompletion\nhelp\nimage\nsystem\n");
  EXPECT_EQ(Complete(script, "banger im"), "image\n");
  const std::string image = Complete(script, "banger image \"\"");
  for (const char* word : {"pull\n", "rm\n", "cache\n", "inspect\n", "verify\n"}) {
    EXPECT_NE(image.find(word), std::string::npos) << word << " in " << image;
  }
  EXPECT_EQ(Complete(script, "banger image cache \"\""), "prune\n");
  EXPECT_EQ(Complete(script, "banger system audit v"), "verify\n");
  const std::string pull = Complete(script, "banger image pull example.com/app:1 --");
  for (const char* flag : {"--name\n", "--platform\n", "--signature-policy\n", "--json\n", "--help\n"}) {
    EXPECT_NE(pull.find(flag), std::string::npos) << flag << " in " << pull;
  }
  EXPECT_EQ(Complete(script, "banger image pull --platform \"\""), "\n") << "a value is the user's to type";
  ASSERT_EQ(RunCommand("touch " + dir.path() + "/policy.json").exit_status, 0);
  EXPECT_EQ(Complete(script, "banger image verify --signature-policy " + dir.path() + "/pol"),
            dir.path() + "/policy.json\n")
      << "a path flag completes files";
  EXPECT_EQ(Complete(script, "banger completion \"\""), "--help\nbash\n");
}

// docs/cli.md documents every command and flag of the table (the completion script
// lists them all, by command path).
TEST(CliDocs, NameEveryCommandAndFlagOfTheTable) {
  const std::string docs = ReadFile(SourceDir() + "/docs/cli.md");
  ASSERT_FALSE(docs.empty());
  const std::string script = RunCommand(kBanger + "completion bash").output;
  size_t checked = 0;
  for (size_t at = script.find("  [\"banger "); at != std::string::npos; at = script.find("  [\"banger ", at + 1)) {
    const size_t path_end = script.find("\"]=\"", at);
    const size_t words_end = script.find("\"\n", path_end + 4);
    ASSERT_NE(words_end, std::string::npos);
    const std::string path = script.substr(at + 11, path_end - at - 11);
    const std::string words = " " + script.substr(path_end + 4, words_end - path_end - 4) + " ";
    if (words.find(" --help ") == std::string::npos) continue;  // a group ("image cache"), not a command
    EXPECT_NE(docs.find("`" + path + "`"), std::string::npos) << path << " is not in docs/cli.md";
    std::istringstream flags(words);
    for (std::string flag; flags >> flag;) {
      if (flag[0] != '-' || flag == "--help") continue;
      EXPECT_NE(docs.find("`" + flag), std::string::npos) << path << " " << flag << " is not in docs/cli.md";
      ++checked;
    }
  }
  EXPECT_GT(checked, 30u);
}

TEST(ManPage, RendersCleanlyAndDocumentsEveryCommand) {
  ScratchDir dir("banger-man");
  ASSERT_EQ(RunCommand(kBanger + "help --man > " + dir.path() + "/banger.1").exit_status, 0);
  CommandResult warnings = RunCommand("groff -man -Tutf8 -ww -z " + dir.path() + "/banger.1 2>&1");
  EXPECT_EQ(warnings.exit_status, 0);
  EXPECT_EQ(warnings.output, "") << "groff warned";
  CommandResult text = RunCommand("MANWIDTH=100 man -l " + dir.path() + "/banger.1 2>&1 | col -b");
  ASSERT_EQ(text.exit_status, 0) << text.output;
  for (const char* line : {"banger image pull REF", "banger image cache prune", "banger system audit verify",
                           "--signature-policy FILE", "EXIT STATUS", "ENVIRONMENT"}) {
    EXPECT_NE(text.output.find(line), std::string::npos) << line << " in the man page";
  }
}

}  // namespace
}  // namespace banger::testing
