#include <gtest/gtest.h>

#include <map>
#include <set>

#include "mer/core/error.h"
#include "mer/data/adapters.h"
#include "data/sheet_fixtures.h"

namespace mer::data {
namespace {

using test::TempDir;

const char* kCasme2Header =
    "Subject,Filename,OnsetFrame,ApexFrame,OffsetFrame,Action Units,Estimated Emotion\n";

// The skipped row with this row number, or nullptr.
const SkippedRow* skipped_at(const AnnotationSet& set, int row) {
  for (const auto& s : set.skipped) {
    if (s.row == row) return &s;
  }
  return nullptr;
}

void expect_skipped(const AnnotationSet& set, int row, const std::string& fragment) {
  const auto* s = skipped_at(set, row);
  ASSERT_NE(s, nullptr) << "row " << row << " was not skipped";
  EXPECT_NE(s->reason.find(fragment), std::string::npos)
      << "row " << row << ": reason '" << s->reason << "' lacks '" << fragment << "'";
}

std::set<std::string> subjects(const AnnotationSet& set) {
  std::set<std::string> out;
  for (const auto& c : set.clips) out.insert(c.subject);
  return out;
}

}  // namespace

TEST(Adapters, MalformedRowsAreSkippedWithRowAndReason) {
  TempDir dir;
  const auto path = test::write_text(dir.file("casme2.csv"),
                                     std::string(kCasme2Header) +
                                         "01,EP02_01f,46,59,86,12,happiness\n"  // line 2: good
                                         ",EP03_02,131,139,161,18,others\n"     // 3: no subject
                                         "01,EP04_02,21,/,76,4,others\n"        // 4: apex '/'
                                         "01,EP04_03,41,31,56,4,others\n"       // 5: onset > apex
                                         "01,EP04_04,23,70,66,4,others\n"       // 6: apex > offset
                                         "01,EP19_01,26,49,66,4,joy\n"  // 7: unknown emotion
                                         "02,EP01_11f,46.0,91,96,,repression\n"  // 8: good, no AU
                                         "01,EP02_01f,46,59,86,12,happiness\n"   // 9: repeated clip
                                         "03,,1,2,3,4,others\n"                  // 10: no filename
                                         "ab,EP01,1,2,3,4,others\n"              // 11: bad subject
                                         "04,EP02,1,2,3,4,\n"                    // 12: no emotion
                                         "\n"                                    // blank: ignored
                                         "05,EP05_01,-3,2,3,4,others\n"  // 14: negative onset
                                         "sub06,EP06_01,10,10,10,?,Happiness\n"  // 15: good
  );
  const auto set = read_casme2(path);
  EXPECT_EQ(set.dataset, "casme2");
  ASSERT_EQ(set.clips.size(), 3u);
  EXPECT_EQ(set.skipped.size(), 10u);
  expect_skipped(set, 3, "no subject");
  expect_skipped(set, 4, "apex frame '/' is not a whole number");
  expect_skipped(set, 5, "onset 41 > apex 31");
  expect_skipped(set, 6, "apex 70 > offset 66");
  expect_skipped(set, 7, "unknown emotion 'joy'");
  expect_skipped(set, 9, "repeats clip sub01/EP02_01f of row 2");
  expect_skipped(set, 10, "no filename");
  expect_skipped(set, 11, "subject 'ab'");
  expect_skipped(set, 12, "no emotion");
  expect_skipped(set, 14, "onset frame '-3'");
  for (const auto& s : set.skipped) EXPECT_EQ(s.source, path);

  const auto& a = set.clips[0];
  EXPECT_EQ(a.subject, "sub01");
  EXPECT_EQ(a.clip, "EP02_01f");
  EXPECT_EQ(a.source_row, 2);
  EXPECT_EQ(set.clips[1].onset, 46);
  EXPECT_TRUE(set.clips[1].action_units.numbers.empty());
  EXPECT_EQ(set.clips[2].subject, "sub06");
  EXPECT_EQ(set.clips[2].emotion, "happiness");
  EXPECT_EQ(set.clips[2].emotion_raw, "Happiness");
  EXPECT_TRUE(set.clips[2].action_units.uncertain);
  EXPECT_EQ(set.find("sub01", "EP02_01f"), &set.clips[0]);
  EXPECT_EQ(set.find("sub01", "EP99"), nullptr);
}

TEST(Adapters, OutOfOrderRowsCanBeKeptFlagged) {
  TempDir dir;
  const auto path = test::write_text(dir.file("c.csv"), std::string(kCasme2Header) +
                                                            "01,EP04_03,41,31,56,4,others\n"
                                                            "01,EP04_04,23,70,66,4,others\n"
                                                            "01,EP04_05,70,,66,4,others\n");
  const auto set = read_casme2(path, AdapterOptions().keep_out_of_order(true));
  ASSERT_EQ(set.clips.size(), 2u);
  EXPECT_EQ(set.clips[0].flags, (std::vector<std::string>{"frame order: onset 41 > apex 31"}));
  EXPECT_TRUE(set.clips[1].has_flag("frame order"));
  // A missing frame number is still fatal for the row.
  expect_skipped(set, 4, "no apex frame");
}

TEST(Adapters, XlsxWithNotesAboveTheHeader) {
  TempDir dir;
  const auto path = test::write_simple_xlsx(
      dir.file("samm.xlsx"),
      {{"SAMM Dataset - Master FACS Codes"},
       {"Symbol Key:"},
       {"Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
        "Duration", "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"},
       {"6", "006_1_2", "1", "5562", "5588", "5632", "71", "Micro - 1/2", "4+7", "Anger", "3"},
       {"7", "006_1_3", "1", "1", "2", "3", "", "", "4", "Anger", "3"},
       {"7", "007_1_3", "1", "1", "2", "3", "", "", "R14+17+soft focus", "Other", "IX"},
       {"7", "007_1_4", "1", "1", "2", "3", "", "", "12", "Other", "VII", "Blinks"}},
      "MICRO_ONLY");
  const auto set = read_samm(path);
  ASSERT_EQ(set.clips.size(), 2u);
  const auto& a = set.clips[0];
  EXPECT_EQ(a.subject, "006");
  EXPECT_EQ(a.clip, "006_1_2");
  EXPECT_EQ(a.source_row, 4);
  EXPECT_EQ(a.objective_class, 3);
  EXPECT_EQ(a.emotion, "anger");
  EXPECT_EQ(a.frame_file(5562), "006/006_1_2/006_05562.jpg");
  EXPECT_EQ(set.clips[1].objective_class, 7);
  EXPECT_EQ(set.clips[1].emotion, "others");
  EXPECT_EQ(set.clips[1].notes, "Blinks");
  expect_skipped(set, 5, "does not belong to subject 007");
  expect_skipped(set, 6, "objective class 'IX'");
}

TEST(Adapters, FatalErrors) {
  TempDir dir;
  EXPECT_THROW(read_casme2(dir.file("absent.xlsx")), DataError);
  test::write_text(dir.file("wrong.csv"), "Subject,Clip,Start\n01,EP,1\n");
  try {
    read_casme2(dir.file("wrong.csv"));
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("wrong.csv"), std::string::npos) << m;
    EXPECT_NE(m.find("'OnsetFrame' or 'Onset'"), std::string::npos) << m;
    EXPECT_NE(m.find("'Estimated Emotion' or 'Emotion'"), std::string::npos) << m;
  }
  test::write_simple_xlsx(dir.file("s.xlsx"), {{"x"}});
  EXPECT_THROW(read_casme3(dir.file("s.xlsx"), AdapterOptions().sheet("label")), DataError);
}

TEST(Adapters, OptionsAreCheckedPerDatabase) {
  EXPECT_THROW(AdapterOptions().raw_frames(true).validate("samm"), ConfigError);
  EXPECT_THROW(AdapterOptions().smic_apex_sheet("a.xlsx").validate("casme2"), ConfigError);
  EXPECT_THROW(AdapterOptions().validate("casme4"), ConfigError);
  EXPECT_THROW(read_samm("x.xlsx", AdapterOptions().raw_frames(true)), ConfigError);
  EXPECT_NO_THROW(AdapterOptions().raw_frames(true).validate("casme2"));
  EXPECT_THROW(read_annotations("ck+", "x.csv"), ConfigError);
  EXPECT_EQ(database_names(),
            (std::vector<std::string>{"casme2", "samm", "smic", "casme3", "mmew"}));
}

TEST(Adapters, EveryDatabaseFromFixtures) {
  TempDir dir;
  const auto smic =
      read_smic(test::write_text(dir.file("smic.csv"),
                                 "Subject,Filename,OnsetFrame,OffsetFrame,Estimated Emotion\n"
                                 "1,s1_ne_01,559740,559775,negative\n"
                                 "4,s4_po_01,036219,036250,positive\n"
                                 "4,s5_po_01,1,2,positive\n"));
  ASSERT_EQ(smic.clips.size(), 2u);
  EXPECT_EQ(smic.clips[0].subject, "s01");
  EXPECT_EQ(smic.clips[0].clip, "s01_ne_01");
  EXPECT_EQ(smic.clips[0].apex, -1);
  EXPECT_EQ(smic.clips[1].onset, 36219);
  EXPECT_EQ(smic.clips[0].frame_file(559740), "s1/micro/negative/s1_ne_01/image559740.bmp");
  EXPECT_EQ(smic.clips[1].frame_file(36219), "s4/micro/positive/s4_po_01/image036219.bmp");
  expect_skipped(smic, 4, "does not belong to subject s04");

  const auto casme3 =
      read_casme3(test::write_text(dir.file("casme3.csv"),
                                   "Subject,Filename,Onset,Apex,Offset,AU,Objective class,emotion\n"
                                   "spNO.1,a,355,359,360,5,II,others\n"
                                   "spNO.1,b,166,175,179,4,III,happy\n"));
  ASSERT_EQ(casme3.clips.size(), 2u);
  EXPECT_EQ(casme3.clips[0].objective_class, 2);
  EXPECT_EQ(casme3.clips[1].emotion, "happiness");
  EXPECT_EQ(casme3.clips[0].clip, "a_355");
  EXPECT_EQ(casme3.clips[0].frame_file(355), "spNO.1/a/color/355.jpg");

  const auto mmew = read_mmew(test::write_text(
      dir.file("mmew.csv"),
      "Subject,Filename,OnsetFrame,ApexFrame,OffsetFrame,Action Units,Estimated Emotion,remarks\n"
      "1,S01-01-001,1,15,31,6+12,happiness,\n"));
  ASSERT_EQ(mmew.clips.size(), 1u);
  EXPECT_EQ(mmew.clips[0].subject, "S01");
  EXPECT_EQ(mmew.clips[0].frame_file(15), "happiness/S01-01-001/15.jpg");

  const auto casme2 =
      read_casme2(test::write_text(dir.file("c.csv"), std::string(kCasme2Header) +
                                                          "01,EP02_01f,46,59,86,12,happiness\n"),
                  AdapterOptions().raw_frames(true));
  EXPECT_EQ(casme2.clips[0].frame_file(46), "sub01/EP02_01f/img46.jpg");
  EXPECT_EQ(casme2.clips[0].frame_dir(), "sub01/EP02_01f");
}

TEST(Adapters, SmicApexSheetFillsApexWithinTheClip) {
  TempDir dir;
  const auto csv = test::write_text(dir.file("smic.csv"),
                                    "Subject,Filename,OnsetFrame,OffsetFrame,Estimated Emotion\n"
                                    "1,s1_ne_01,100,130,negative\n"
                                    "2,s2_po_01,200,230,positive\n"
                                    "3,s3_sur_01,300,330,surprise\n");
  const auto apex = test::write_simple_xlsx(
      dir.file("apex.xlsx"),
      {{"data", "subject", "clip", "label", "onset_frame", "apex_frame", "offset_frame"},
       {"smic", "1", "s1_ne_01", "0", "100", "110", "130"},
       {"smic", "2", "s2_po_01", "1", "200", "260", "230"},
       {"smic", "9", "s9_ne_01", "0", "1", "2", "3"},
       {"smic", "3", "s3_sur_01", "2", "300", "x"}});
  const auto set = read_smic(csv, AdapterOptions().smic_apex_sheet(apex));
  ASSERT_EQ(set.clips.size(), 3u);
  EXPECT_EQ(set.clips[0].apex, 110);
  EXPECT_TRUE(set.clips[0].has_flag("apex from " + apex + ":2"));
  EXPECT_EQ(set.clips[1].apex, -1);
  EXPECT_EQ(set.clips[2].apex, -1);
  ASSERT_EQ(set.notes.size(), 3u);
  EXPECT_NE(set.notes[0].find("outside its 200..230"), std::string::npos) << set.notes[0];
  EXPECT_NE(set.notes[1].find("s09_ne_01 is not among"), std::string::npos) << set.notes[1];
  EXPECT_NE(set.notes[2].find("apex 'x'"), std::string::npos) << set.notes[2];
}

TEST(Adapters, FindFrameTriesEveryKnownLayout) {
  TempDir dir;
  const auto set =
      read_smic(test::write_text(dir.file("smic.csv"),
                                 "Subject,Filename,OnsetFrame,OffsetFrame,Estimated Emotion\n"
                                 "3,s3_ne_17,425101,425134,negative\n"));
  const auto& clip = set.clips.at(0);
  // The HS_long layout of smic_apex.xlsx: found although it is not the preferred one.
  test::write_text(dir.file("root/s03/s3_ne_17/image425101.jpg"), "jpg");
  EXPECT_EQ(find_frame(dir.file("root"), clip, 425101),
            dir.file("root/s03/s3_ne_17/image425101.jpg"));
  try {
    find_frame(dir.file("root"), clip, 425102);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("smic/s03/s03_ne_17"), std::string::npos) << m;
    EXPECT_NE(m.find("frame 425102 not found"), std::string::npos) << m;
    EXPECT_NE(m.find("s3/micro/negative/s3_ne_17/image425102.bmp"), std::string::npos) << m;
    EXPECT_NE(m.find("s03/s3_ne_17/image425102.jpg"), std::string::npos) << m;
  }
  EXPECT_EQ(format_frame_pattern("{n:05}.jpg", 46), "00046.jpg");
  EXPECT_EQ(format_frame_pattern("img{n}.jpg", 46), "img46.jpg");
  EXPECT_EQ(format_frame_pattern("{n:03}", 123456), "123456");
  EXPECT_THROW(format_frame_pattern("{x}.jpg", 1), Error);
}

TEST(Adapters, CanonicalEmotion) {
  EXPECT_EQ(canonical_emotion(" Happy "), "happiness");
  EXPECT_EQ(canonical_emotion("Other"), "others");
  EXPECT_EQ(canonical_emotion("sad"), "sadness");
  EXPECT_EQ(canonical_emotion("Repression"), "repression");
}

// ---- Real sheets ---------------------------------------------------------------------------

TEST(Adapters, RealDataCasme2Coding2014) {
  MER_REQUIRE_SHARED("annotations/CASME2-coding-20140508.xlsx");
  const auto set = read_casme2(test::shared("annotations/CASME2-coding-20140508.xlsx"));
  EXPECT_EQ(set.clips.size(), 255u);
  EXPECT_TRUE(set.skipped.empty());
  EXPECT_EQ(subjects(set).size(), 26u);
  const auto* a = set.find("sub01", "EP02_01f");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->onset, 46);
  EXPECT_EQ(a->apex, 59);
  EXPECT_EQ(a->offset, 86);
  EXPECT_EQ(a->action_units.text, "12");
  EXPECT_EQ(a->action_units.numbers, (std::vector<int>{12}));
  EXPECT_EQ(a->action_units.vector[action_unit_index(12)], 1.0f);
  EXPECT_EQ(a->emotion, "happiness");
  EXPECT_EQ(a->objective_class, -1);
  EXPECT_EQ(a->source_row, 2);
  EXPECT_EQ(a->frame_file(46), "sub01/EP02_01f/reg_img46.jpg");
  const auto* b = set.find("sub01", "EP19_06f");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->action_units.numbers, (std::vector<int>{4, 5, 10}));
  EXPECT_EQ(b->emotion, "disgust");
  std::map<std::string, int> emotions;
  for (const auto& c : set.clips) ++emotions[c.emotion];
  EXPECT_EQ(emotions, (std::map<std::string, int>{{"disgust", 63},
                                                  {"fear", 2},
                                                  {"happiness", 32},
                                                  {"others", 99},
                                                  {"repression", 27},
                                                  {"sadness", 7},
                                                  {"surprise", 25}}));
  // Five clips are coded "?" (unknown AU); nothing else is unreadable.
  int unknown_au = 0;
  for (const auto& c : set.clips) {
    EXPECT_TRUE(c.action_units.unparsed.empty()) << c.key() << ": " << c.action_units.text;
    if (c.action_units.uncertain) ++unknown_au;
  }
  EXPECT_EQ(unknown_au, 5);
}

TEST(Adapters, RealDataCasme2Coding2019) {
  MER_REQUIRE_SHARED("casme2/CASME2-coding-20190701.xlsx");
  const auto set = read_casme2(test::shared("casme2/CASME2-coding-20190701.xlsx"));
  EXPECT_EQ(set.clips.size(), 254u);
  ASSERT_EQ(set.skipped.size(), 1u);
  // sub04/EP12_01f: the 2019 sheet writes its apex as "/".
  expect_skipped(set, 31, "apex frame '/' is not a whole number");
  const auto* a = set.find("sub01", "EP02_01f");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->objective_class, 1);
  EXPECT_EQ(a->onset, 46);
  std::map<int, int> objective;
  for (const auto& c : set.clips) ++objective[c.objective_class];
  EXPECT_EQ(objective,
            (std::map<int, int>{{1, 30}, {2, 18}, {3, 93}, {4, 14}, {5, 18}, {6, 2}, {7, 79}}));
}

TEST(Adapters, RealDataCasme2ClipsCsvAgreesWithThe2019Sheet) {
  MER_REQUIRE_SHARED("casme2/clips.csv");
  MER_REQUIRE_SHARED("casme2/CASME2-coding-20190701.xlsx");
  MER_REQUIRE_SHARED("annotations/CASME2-coding-20140508.xlsx");
  const auto clips = read_casme2(test::shared("casme2/clips.csv"));
  const auto coding2019 = read_casme2(test::shared("casme2/CASME2-coding-20190701.xlsx"));
  const auto coding2014 = read_casme2(test::shared("annotations/CASME2-coding-20140508.xlsx"));
  ASSERT_EQ(clips.clips.size(), 255u);
  EXPECT_TRUE(clips.skipped.empty());
  int compared = 0;
  for (const auto& c : clips.clips) {
    const auto* x = coding2019.find(c.subject, c.clip);
    const auto* old = coding2014.find(c.subject, c.clip);
    ASSERT_NE(old, nullptr) << c.key();
    // The AU strings of clips.csv are the 2014 coding's (the 2019 sheet recodes 56 of them).
    EXPECT_EQ(c.action_units.text, old->action_units.text) << c.key();
    if (x == nullptr) {
      // The one row the 2019 sheet leaves without apex: clips.csv has the 2014 apex.
      EXPECT_EQ(c.key(), "casme2/sub04/EP12_01f");
      EXPECT_EQ(c.apex, old->apex);
      continue;
    }
    ++compared;
    EXPECT_EQ(c.onset, x->onset) << c.key();
    EXPECT_EQ(c.apex, x->apex) << c.key();
    EXPECT_EQ(c.offset, x->offset) << c.key();
    EXPECT_EQ(c.emotion, x->emotion) << c.key();
    EXPECT_EQ(c.source_row, x->source_row) << c.key();  // same row order
  }
  EXPECT_EQ(compared, 254);
}

TEST(Adapters, RealDataCasme2FramesFollowTheCroppedLayout) {
  MER_REQUIRE_SHARED("casme2/clips.csv");
  MER_REQUIRE_SHARED("casme2/frames");
  const auto set = read_casme2(test::shared("casme2/clips.csv"));
  const auto root = test::shared("casme2/frames");
  EXPECT_EQ(find_frame(root, *set.find("sub01", "EP02_01f"), 46),
            root + "/sub01/EP02_01f/reg_img46.jpg");
  int found = 0;
  int missing = 0;
  for (const auto& c : set.clips) {
    for (const int f : {c.onset, c.apex, c.offset}) {
      try {
        find_frame(root, c, f);
        ++found;
      } catch (const DataError&) {
        ++missing;
      }
    }
  }
  // shared/data/README.md: two key frames are missing (763 of 765).
  EXPECT_EQ(found, 763);
  EXPECT_EQ(missing, 2);
  const auto flagged = std::count_if(set.clips.begin(), set.clips.end(),
                                     [](const ClipAnnotation& c) { return !c.flags.empty(); });
  EXPECT_EQ(flagged, 5);
}

TEST(Adapters, RealDataSamm) {
  MER_REQUIRE_SHARED("annotations/SAMM_Micro_FACS_Codes_v2.xlsx");
  const auto path = test::shared("annotations/SAMM_Micro_FACS_Codes_v2.xlsx");
  const auto set = read_samm(path);
  EXPECT_EQ(set.clips.size(), 157u);
  ASSERT_EQ(set.skipped.size(), 2u);
  expect_skipped(set, 140, "apex 1143 > offset 1134");  // 028_4_1
  expect_skipped(set, 147, "onset 4896 > apex 1930");   // 032_3_1
  const auto* a = set.find("006", "006_1_2");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->source_row, 15);
  EXPECT_EQ(a->onset, 5562);
  EXPECT_EQ(a->apex, 5588);
  EXPECT_EQ(a->offset, 5632);
  EXPECT_EQ(a->action_units.numbers, (std::vector<int>{4, 7}));
  EXPECT_EQ(a->emotion_raw, "Anger");
  EXPECT_EQ(a->emotion, "anger");
  EXPECT_EQ(a->objective_class, 3);
  EXPECT_EQ(a->frame_file(5562), "006/006_1_2/006_05562.jpg");
  EXPECT_EQ(set.find("006", "006_1_3")->notes, "While blinking");

  const auto kept = read_samm(path, AdapterOptions().keep_out_of_order(true));
  EXPECT_EQ(kept.clips.size(), 159u);
  EXPECT_TRUE(kept.skipped.empty());
  EXPECT_EQ(subjects(kept).size(), 29u);
  EXPECT_TRUE(kept.find("028", "028_4_1")->has_flag("frame order: apex 1143 > offset 1134"));
  std::map<std::string, int> emotions;
  for (const auto& c : kept.clips) ++emotions[c.emotion];
  EXPECT_EQ(emotions, (std::map<std::string, int>{{"anger", 57},
                                                  {"contempt", 12},
                                                  {"disgust", 9},
                                                  {"fear", 8},
                                                  {"happiness", 26},
                                                  {"others", 26},
                                                  {"sadness", 6},
                                                  {"surprise", 15}}));
  // SAMM's free-hand AU codes: only "soft focus" is no AU code; AUs outside the 21-AU list
  // are reported.
  std::vector<std::string> unparsed;
  std::set<int> unknown;
  for (const auto& c : kept.clips) {
    unparsed.insert(unparsed.end(), c.action_units.unparsed.begin(), c.action_units.unparsed.end());
    unknown.insert(c.action_units.unknown.begin(), c.action_units.unknown.end());
  }
  EXPECT_EQ(unparsed, (std::vector<std::string>{"soft focus"}));
  EXPECT_EQ(unknown, (std::set<int>{8, 13, 21, 31, 38, 39, 43, 56, 61}));
}

TEST(Adapters, RealDataSmic) {
  MER_REQUIRE_SHARED("annotations/SMIC_HS_cropped.csv");
  MER_REQUIRE_SHARED("annotations/smic_apex.xlsx");
  const auto csv = test::shared("annotations/SMIC_HS_cropped.csv");
  const auto set = read_smic(csv);
  EXPECT_EQ(set.clips.size(), 164u);
  EXPECT_TRUE(set.skipped.empty());
  EXPECT_EQ(subjects(set).size(), 16u);
  for (const auto& c : set.clips) EXPECT_EQ(c.apex, -1);
  const auto* a = set.find("s01", "s01_ne_01");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->onset, 559740);
  EXPECT_EQ(a->offset, 559775);
  EXPECT_EQ(a->emotion, "negative");
  EXPECT_EQ(a->frame_file(559740), "s1/micro/negative/s1_ne_01/image559740.bmp");

  const auto with_apex =
      read_smic(csv, AdapterOptions().smic_apex_sheet(test::shared("annotations/smic_apex.xlsx")));
  EXPECT_TRUE(with_apex.notes.empty()) << with_apex.notes.front();
  for (const auto& c : with_apex.clips) EXPECT_GE(c.apex, 0) << c.key();
  EXPECT_EQ(with_apex.find("s20", "s20_ne_01")->apex, 17581046);
  // One of the seven rows of smic_apex.xlsx without offset and frame paths.
  EXPECT_EQ(with_apex.find("s01", "s01_ne_02")->apex, 563884);
}

TEST(Adapters, RealDataCasme3PartA) {
  MER_REQUIRE_SHARED("annotations/CASME3_partA_ME_label_JpgIndex_v2.xlsx");
  const auto set = read_casme3(test::shared("annotations/CASME3_partA_ME_label_JpgIndex_v2.xlsx"));
  EXPECT_EQ(set.clips.size(), 856u);
  ASSERT_EQ(set.skipped.size(), 4u);
  expect_skipped(set, 130, "onset 112 > apex 83");
  expect_skipped(set, 751, "onset 3647 > apex 2668");
  expect_skipped(set, 798, "apex 1824 > offset 0");
  expect_skipped(set, 800, "apex 2363 > offset 0");
  EXPECT_EQ(subjects(set).size(), 94u);
  // Several clips per video: the clip name carries the onset.
  const auto* a = set.find("spNO.1", "a_355");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->onset, 355);
  EXPECT_EQ(a->apex, 359);
  EXPECT_EQ(a->offset, 360);
  EXPECT_EQ(a->action_units.numbers, (std::vector<int>{5}));
  EXPECT_EQ(a->objective_class, 2);
  EXPECT_EQ(a->emotion, "others");
  EXPECT_EQ(a->frame_file(359), "spNO.1/a/color/359.jpg");
  std::map<std::string, int> emotions;
  for (const auto& c : set.clips) ++emotions[c.emotion];
  EXPECT_EQ(emotions.size(), 7u);
  EXPECT_EQ(emotions["happiness"], 55);
  for (const auto& c : set.clips) {
    EXPECT_TRUE(c.action_units.unparsed.empty()) << c.key() << ": " << c.action_units.text;
    EXPECT_GE(c.objective_class, 1) << c.key();
  }
}

TEST(Adapters, RealDataMmew) {
  MER_REQUIRE_SHARED("annotations/MMEW_Micro_Exp.csv");
  const auto set = read_mmew(test::shared("annotations/MMEW_Micro_Exp.csv"));
  EXPECT_EQ(set.clips.size(), 300u);
  EXPECT_TRUE(set.skipped.empty());
  EXPECT_EQ(subjects(set).size(), 30u);
  const auto* a = set.find("S01", "S01-01-001");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->onset, 1);
  EXPECT_EQ(a->apex, 15);
  EXPECT_EQ(a->offset, 31);
  EXPECT_EQ(a->action_units.numbers, (std::vector<int>{6, 12}));
  EXPECT_EQ(a->emotion, "happiness");
  EXPECT_EQ(a->frame_file(15), "happiness/S01-01-001/15.jpg");
  std::map<std::string, int> emotions;
  for (const auto& c : set.clips) ++emotions[c.emotion];
  EXPECT_EQ(emotions, (std::map<std::string, int>{{"anger", 8},
                                                  {"disgust", 72},
                                                  {"fear", 16},
                                                  {"happiness", 36},
                                                  {"others", 66},
                                                  {"sadness", 13},
                                                  {"surprise", 89}}));
  for (const auto& c : set.clips) {
    EXPECT_TRUE(c.action_units.unparsed.empty()) << c.key() << ": " << c.action_units.text;
  }
}

TEST(Adapters, RealDataDispatchByName) {
  MER_REQUIRE_SHARED("annotations/MMEW_Micro_Exp.csv");
  EXPECT_EQ(read_annotations("mmew", test::shared("annotations/MMEW_Micro_Exp.csv")).clips.size(),
            300u);
}

}  // namespace mer::data
