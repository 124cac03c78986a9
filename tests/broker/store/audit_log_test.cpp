// The audit log's hash chain: records appended by AuditLog link each to the one before,
// VerifyAuditChain accepts the untouched log and names the line of the first broken link
// after each kind of tampering (an edited, deleted or reordered record, a file cut short
// of its head), and the chain runs on into a new file after logrotate moves the old one.
#include "broker/store/audit_log.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "broker/store/audit_chain.h"
#include "tests/support/test_support.h"

namespace banger::broker {
namespace {

using nlohmann::json;
using testing::ReadFile;
using testing::ScratchDir;

std::vector<std::string> Lines(const std::string& path) {
  std::istringstream text(ReadFile(path));
  std::vector<std::string> lines;
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  return lines;
}

void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::trunc);
  for (const std::string& line : lines) out << line << "\n";
}

class AuditLogTest : public ::testing::Test {
 protected:
  // A log of `count` records ("request": "pull", "n": i); returns what the last Append wrote.
  AuditRecordWritten WriteRecords(int count) {
    auto log = AuditLog::Open(path_);
    EXPECT_TRUE(log) << log.error().message;
    AuditRecordWritten last;
    for (int i = 0; i < count && log; ++i) {
      auto written = log->Append(json{{"request", "pull"}, {"n", i}});
      EXPECT_TRUE(written) << written.error().message;
      if (written) last = *written;
    }
    return last;
  }

  // The error VerifyAuditChain gives for the log, or "" when it passes.
  std::string Broken(const std::string& head = "") const {
    auto verified = VerifyAuditChain({path_}, head);
    return verified ? "" : verified.error().message;
  }

  ScratchDir dir_{"banger-audit"};
  std::string path_ = dir_.path() + "/log/audit.log";
};

TEST_F(AuditLogTest, RecordsLinkEachToTheOneBefore) {
  const AuditRecordWritten last = WriteRecords(3);
  EXPECT_EQ(last.seq, 3u);
  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(json::parse(lines[0])["seq"], 1);
  EXPECT_EQ(json::parse(lines[0])["prev"], AuditChainStart()) << "the chain's start is in the first line";
  EXPECT_EQ(json::parse(lines[2])["request"], "pull");
  auto verified = VerifyAuditChain({path_}, last.hash);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->records, 3u);
  EXPECT_EQ(verified->first_seq, 1u);
  EXPECT_EQ(verified->head, last.hash);

  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat((dir_.path() + "/log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(AuditLogTest, ARecordMayNotSetItsOwnLink) {
  auto log = AuditLog::Open(path_);
  ASSERT_TRUE(log);
  EXPECT_FALSE(log->Append(json{{"seq", 7}}));
  EXPECT_FALSE(log->Append(json{{"prev", AuditChainStart()}}));
  EXPECT_FALSE(log->Append(json::array()));
  EXPECT_FALSE(AuditLog::Open("relative/audit.log"));
}

TEST_F(AuditLogTest, EachKindOfTamperingNamesItsLine) {
  const AuditRecordWritten last = WriteRecords(5);
  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(Broken(last.hash), "");

  std::vector<std::string> edited = lines;
  edited[1].replace(edited[1].find("\"pull\""), 6, "\"rm\"  ");
  WriteLines(path_, edited);
  EXPECT_NE(Broken().find("audit.log line 3: its prev is not the hash of the record before"), std::string::npos) << Broken();

  std::vector<std::string> deleted = lines;
  deleted.erase(deleted.begin() + 2);
  WriteLines(path_, deleted);
  EXPECT_NE(Broken().find("audit.log line 3: record 4 follows record 2"), std::string::npos) << Broken();

  std::vector<std::string> reordered = lines;
  std::swap(reordered[3], reordered[4]);
  WriteLines(path_, reordered);
  EXPECT_NE(Broken().find("audit.log line 4: record 5 follows record 3"), std::string::npos) << Broken();

  std::vector<std::string> cut(lines.begin(), lines.end() - 1);
  WriteLines(path_, cut);
  EXPECT_EQ(Broken(), "") << "what is left still links";
  EXPECT_NE(Broken(last.hash).find("does not reach the head " + last.hash + ": it ends at record 4"), std::string::npos)
      << Broken(last.hash);

  std::vector<std::string> last_edited = lines;
  last_edited[4].replace(last_edited[4].find("\"pull\""), 6, "\"rm\"  ");
  WriteLines(path_, last_edited);
  EXPECT_NE(Broken(last.hash), "") << "an edit of the last record shows against the head";

  WriteLines(path_, lines);
  std::ofstream(path_, std::ios::app) << "{\"seq\":6";
  EXPECT_NE(Broken().find("audit.log line 6: the record is cut short"), std::string::npos) << Broken();
}

TEST_F(AuditLogTest, TheChainRunsOnIntoTheFileAfterARotation) {
  WriteRecords(2);
  ASSERT_EQ(::rename(path_.c_str(), (path_ + ".1").c_str()), 0);  // what logrotate does
  const AuditRecordWritten last = WriteRecords(2);
  EXPECT_EQ(last.seq, 4u);
  EXPECT_EQ(json::parse(Lines(path_)[0])["seq"], 3);

  auto both = VerifyAuditChain({path_ + ".1", path_}, last.hash);
  ASSERT_TRUE(both) << both.error().message;
  EXPECT_EQ(both->records, 4u);
  auto newest = VerifyAuditChain({path_}, last.hash);
  ASSERT_TRUE(newest) << "a rotated file alone verifies from where it starts: " << newest.error().message;
  EXPECT_EQ(newest->first_seq, 3u);
  auto swapped = VerifyAuditChain({path_, path_ + ".1"}, "");
  ASSERT_FALSE(swapped);
  EXPECT_NE(swapped.error().message.find("audit.log.1 line 1: record 1"), std::string::npos) << swapped.error().message;
}

TEST_F(AuditLogTest, AnAppendAfterAnotherWriterRotatedFollowsTheNewFile) {
  auto first = AuditLog::Open(path_);
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->Append(json{{"request", "pull"}}));
  ASSERT_EQ(::rename(path_.c_str(), (path_ + ".1").c_str()), 0);
  WriteRecords(1);  // another writer, after the rotation
  auto written = first->Append(json{{"request", "rm"}});  // the first writer never reopened
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(written->seq, 3u);
  EXPECT_EQ(Lines(path_).size(), 2u) << "appended to the file at the log's path, not the moved one";
  auto verified = VerifyAuditChain({path_ + ".1", path_}, written->hash);
  EXPECT_TRUE(verified) << verified.error().message;
}

TEST_F(AuditLogTest, ALogEndingInAPartialRecordIsNotAppendedTo) {
  WriteRecords(1);
  std::ofstream(path_, std::ios::app) << "{\"seq\":2,";
  auto log = AuditLog::Open(path_);
  ASSERT_TRUE(log);
  auto written = log->Append(json{{"request", "pull"}});
  ASSERT_FALSE(written);
  EXPECT_NE(written.error().message.find("ends in the middle of a record"), std::string::npos) << written.error().message;
}

}  // namespace
}  // namespace banger::broker
