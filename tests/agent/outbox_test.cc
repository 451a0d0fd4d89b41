// The durable outbox: numbering after the welcome, replay after reconnects and restarts,
// acks, and what a previous run left on disk.

#include "agent/outbox.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/fs.h"

namespace tachyon::agent {
namespace {

jobs::JobEvent Ev(const std::string& jid, jobs::JobEvent::Kind kind) {
  jobs::JobEvent e;
  e.kind = kind;
  e.jid = jid;
  e.state = kind == jobs::JobEvent::Kind::kStarted ? jobs::JobState::kRunning
                                                   : jobs::JobState::kSucceeded;
  if (kind == jobs::JobEvent::Kind::kFinished) e.result = {{"rc", 0}};
  return e;
}

std::vector<uint64_t> Seqs(const std::vector<OutboxEvent>& v) {
  std::vector<uint64_t> out;
  for (const auto& e : v) out.push_back(e.seq);
  return out;
}

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tachyon-outbox-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = std::string(tmpl) + "/outbox";
    root_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(root_).ok()); }
  std::unique_ptr<Outbox> Open() {
    auto box = Outbox::Open(dir_);
    EXPECT_TRUE(box.ok()) << box.status();
    return box.ok() ? *std::move(box) : nullptr;
  }
  std::string root_, dir_;
};

TEST_F(OutboxTest, NumbersOnlyAfterTheWelcomeAndContinuesFromTheController) {
  auto box = Open();
  ASSERT_TRUE(box->Add(Ev("j1.1", jobs::JobEvent::Kind::kStarted), 1).ok());
  EXPECT_TRUE(box->TakeNew().empty());  // not connected yet
  auto sent = box->OnWelcome(41);
  EXPECT_EQ(Seqs(sent), (std::vector<uint64_t>{42}));
  ASSERT_TRUE(box->Add(Ev("j1.1", jobs::JobEvent::Kind::kFinished), 2).ok());
  EXPECT_EQ(Seqs(box->TakeNew()), (std::vector<uint64_t>{43}));
  EXPECT_TRUE(box->TakeNew().empty());
}

TEST_F(OutboxTest, UnackedEventsAreSentAgainAfterReconnect) {
  auto box = Open();
  box->OnWelcome(0);
  ASSERT_TRUE(box->Add(Ev("j1.1", jobs::JobEvent::Kind::kStarted), 1).ok());
  ASSERT_TRUE(box->Add(Ev("j1.1", jobs::JobEvent::Kind::kFinished), 2).ok());
  EXPECT_EQ(Seqs(box->TakeNew()), (std::vector<uint64_t>{1, 2}));
  box->Ack(1);
  box->OnDisconnect();
  EXPECT_EQ(Seqs(box->OnWelcome(1)), (std::vector<uint64_t>{2}));
  // The controller stored 2 before the stream broke, but its ack was lost: nothing to resend.
  box->OnDisconnect();
  EXPECT_TRUE(box->OnWelcome(2).empty());
  EXPECT_EQ(box->size(), 0u);
}

TEST_F(OutboxTest, SurvivesARestartWithItsNumbering) {
  {
    auto box = Open();
    box->OnWelcome(10);
    ASSERT_TRUE(box->Add(Ev("j1.1", jobs::JobEvent::Kind::kStarted), 1).ok());   // seq 11
    ASSERT_TRUE(box->Add(Ev("j1.1", jobs::JobEvent::Kind::kFinished), 2).ok());  // seq 12
    box->Ack(11);
  }
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/meta.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto box = Open();
  EXPECT_EQ(box->size(), 1u);
  // After a restart, numbering waits for the welcome again; it then starts past the block that
  // the first run reserved (11 up to 11 + kSeqBlock), whatever of it was used.
  ASSERT_TRUE(box->Add(Ev("j2.1", jobs::JobEvent::Kind::kStarted), 3).ok());
  EXPECT_TRUE(box->TakeNew().empty());
  auto sent = box->OnWelcome(11);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].seq, 12u);
  EXPECT_EQ(sent[0].event.jid, "j1.1");
  EXPECT_EQ(sent[0].event.result["rc"], 0);
  EXPECT_EQ(sent[1].seq, 11u + Outbox::kSeqBlock);
  EXPECT_EQ(sent[1].event.jid, "j2.1");
}

TEST_F(OutboxTest, AckedCounterSurvivesEvenWhenEverythingWasAcked) {
  {
    auto box = Open();
    box->OnWelcome(0);
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(box->Add(Ev("j1.1", jobs::JobEvent::Kind::kStarted), i).ok());
    box->TakeNew();
    box->Ack(5);
    EXPECT_EQ(box->size(), 0u);
  }
  auto box = Open();
  ASSERT_TRUE(box->Add(Ev("j3.1", jobs::JobEvent::Kind::kStarted), 9).ok());
  // The controller lost its database (last seq 0): we still never reuse 1..5, nor anything
  // else of the block reserved when numbering started.
  EXPECT_EQ(Seqs(box->OnWelcome(0)), (std::vector<uint64_t>{1 + Outbox::kSeqBlock}));
}

TEST_F(OutboxTest, AcksDoNotRewriteTheCounter) {
  auto box = Open();
  box->OnWelcome(0);
  // The first number reserves a block: meta.json is written then, and not again below.
  ASSERT_TRUE(box->Add(Ev("j1.1", jobs::JobEvent::Kind::kStarted), 0).ok());
  struct stat before;
  ASSERT_EQ(stat((dir_ + "/meta.json").c_str(), &before), 0);
  box->TakeNew();
  box->Ack(1);
  for (int i = 1; i < 20; ++i) {
    ASSERT_TRUE(box->Add(Ev("j1.1", jobs::JobEvent::Kind::kStarted), i).ok());
    box->TakeNew();
    box->Ack(static_cast<uint64_t>(i + 1));
  }
  EXPECT_EQ(box->size(), 0u);
  struct stat after;
  ASSERT_EQ(stat((dir_ + "/meta.json").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);  // written atomically (a new inode) on each write
}

TEST_F(OutboxTest, ANewBlockIsReservedBeforeItsFirstNumberIsUsed) {
  constexpr uint64_t kBlock = 4;
  {
    auto box = Outbox::Open(dir_, kBlock);
    ASSERT_TRUE(box.ok()) << box.status();
    (*box)->OnWelcome(0);
    for (uint64_t i = 0; i < kBlock + 1; ++i) {
      ASSERT_TRUE((*box)->Add(Ev("j1.1", jobs::JobEvent::Kind::kStarted), 1).ok());
      (*box)->TakeNew();
      (*box)->Ack(i + 1);
    }
  }
  // 1 .. kBlock + 1 were used: the second block was reserved before the last of them.
  auto box = Outbox::Open(dir_, kBlock);
  ASSERT_TRUE(box.ok()) << box.status();
  ASSERT_TRUE((*box)->Add(Ev("j2.1", jobs::JobEvent::Kind::kStarted), 2).ok());
  EXPECT_EQ(Seqs((*box)->OnWelcome(0)), (std::vector<uint64_t>{2 * kBlock + 1}));
}

TEST_F(OutboxTest, DamagedFilesAreMovedAside) {
  ASSERT_TRUE(MakeDirs(dir_).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/e-00000000000000000001.json", "{not json").ok());
  auto box = Open();
  EXPECT_EQ(box->size(), 0u);
  EXPECT_TRUE(PathExists(dir_ + "/e-00000000000000000001.json.bad"));
}

TEST_F(OutboxTest, InMemoryWhenNoDirectory) {
  auto box = Outbox::Open("");
  ASSERT_TRUE(box.ok());
  ASSERT_TRUE((*box)->Add(Ev("j1.1", jobs::JobEvent::Kind::kStarted), 1).ok());
  EXPECT_EQ(Seqs((*box)->OnWelcome(3)), (std::vector<uint64_t>{4}));
}

}  // namespace
}  // namespace tachyon::agent
