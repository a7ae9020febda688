#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "mer/core/csv.h"
#include "mer/core/error.h"
#include "mer/data/protocols.h"
#include "data/sheet_fixtures.h"

namespace mer::data {
namespace {

using test::TempDir;

ClipAnnotation clip(const std::string& dataset, const std::string& subject, const std::string& name,
                    const std::string& emotion, int objective = -1) {
  ClipAnnotation a;
  a.dataset = dataset;
  a.subject = subject;
  a.clip = name;
  a.emotion = emotion;
  a.emotion_raw = emotion;
  a.objective_class = objective;
  a.onset = 1;
  a.apex = 2;
  a.offset = 3;
  a.source = "fixture";
  return a;
}

std::vector<std::string> names(const Selection& s) {
  std::vector<std::string> out;
  for (const auto& x : s.samples)
    out.push_back(x.dataset + "/" + x.subject + "/" + x.sample + ":" + x.emotion);
  return out;
}

// The exclusion of `clip_name` ("subject/clip", or a clip name alone when it is unique).
const ExcludedClip* excluded(const Selection& s, const std::string& clip_name) {
  for (const auto& e : s.excluded) {
    if (e.clip == clip_name || e.subject + "/" + e.clip == clip_name) return &e;
  }
  return nullptr;
}

void expect_excluded(const Selection& s, const std::string& clip_name,
                     const std::string& fragment) {
  const auto* e = excluded(s, clip_name);
  ASSERT_NE(e, nullptr) << clip_name << " was not excluded";
  EXPECT_NE(e->reason.find(fragment), std::string::npos)
      << clip_name << ": reason '" << e->reason << "' lacks '" << fragment << "'";
}

struct MegcFixture {
  std::vector<ClipAnnotation> casme2 = {clip("casme2", "sub01", "EP02_01f", "happiness"),
                                        clip("casme2", "sub01", "EP03_02", "others"),
                                        clip("casme2", "sub02", "EP01_11f", "repression"),
                                        clip("casme2", "sub04", "EP12_01f", "disgust"),
                                        clip("casme2", "sub24", "EP07_01", "sadness")};
  std::vector<ClipAnnotation> samm = {clip("samm", "006", "006_1_2", "anger"),
                                      clip("samm", "006", "006_1_7", "others"),
                                      clip("samm", "007", "007_6_1", "happiness")};
  std::vector<ClipAnnotation> smic = {clip("smic", "s01", "s01_ne_01", "negative"),
                                      clip("smic", "s01", "s01_sur_01", "surprise")};
};

}  // namespace

TEST(Protocols, Megc2019RuleWithoutTheList) {
  const MegcFixture f;
  const auto s = select_megc2019(f.casme2, f.samm, f.smic);
  EXPECT_EQ(s.protocol, "megc2019");
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"negative", "positive", "surprise"}));
  // The list's order: CASME II, SMIC, SAMM.
  EXPECT_EQ(names(s), (std::vector<std::string>{
                          "casme2/sub01/EP02_01f:positive", "casme2/sub02/EP01_11f:negative",
                          "smic/s01/s01_ne_01:negative", "smic/s01/s01_sur_01:surprise",
                          "samm/006/006_1_2:negative", "samm/007/007_6_1:positive"}));
  EXPECT_EQ(s.samples[0].label, 1);
  EXPECT_EQ(s.samples[0].fold_key(), "casme2/sub01");
  EXPECT_EQ(s.samples[0].clip.clip, "EP02_01f");
  EXPECT_EQ(s.excluded.size(), 4u);
  expect_excluded(s, "EP03_02", "emotion others");
  expect_excluded(s, "EP07_01", "emotion sadness");
  expect_excluded(s, "EP12_01f", "official MEGC2019 list");
  expect_excluded(s, "006_1_7", "emotion others");
  EXPECT_EQ(s.class_counts(), (std::vector<int64_t>{3, 2, 1}));
  EXPECT_EQ(s.fold_keys(), (std::vector<std::string>{"casme2/sub01", "casme2/sub02", "samm/006",
                                                     "samm/007", "smic/s01"}));
  EXPECT_EQ(s.part("smic").size(), 2u);
}

TEST(Protocols, Megc2019ListDecidesMembershipAndLabels) {
  TempDir dir;
  const MegcFixture f;
  // As the official file: no header, CRLF, SAMM subjects unpadded; a label the rule
  // disagrees with, an entry no sheet has, a SMIC clip written unpadded.
  const auto list = test::write_text(dir.file("gt.csv"),
                                     "casme2,sub01,EP02_01f,1\r\n"
                                     "casme2,sub24,EP07_01,2\r\n"
                                     "smic,s1,s1_ne_01,0\r\n"
                                     "samm,6,006_1_2,0\r\n"
                                     "samm,9,009_2_1,0\r\n");
  const auto s = select_megc2019(f.casme2, f.samm, f.smic, ProtocolOptions().megc2019_list(list));
  EXPECT_EQ(names(s), (std::vector<std::string>{
                          "casme2/sub01/EP02_01f:positive", "casme2/sub24/EP07_01:surprise",
                          "smic/s01/s01_ne_01:negative", "samm/006/006_1_2:negative"}));
  ASSERT_EQ(s.notes.size(), 2u);
  EXPECT_NE(s.notes[0].find("gt.csv:2"), std::string::npos) << s.notes[0];
  EXPECT_NE(s.notes[0].find("would give no class"), std::string::npos) << s.notes[0];
  EXPECT_NE(s.notes[1].find("gt.csv:5: samm 9/009_2_1 is in the MEGC2019 list but not among"),
            std::string::npos)
      << s.notes[1];
  expect_excluded(s, "EP01_11f", "not in the MEGC2019 list");
  expect_excluded(s, "006_1_7", "emotion others");
  EXPECT_EQ(s.excluded.size(), 6u);

  // The caller's exclusions win over the list, without a note.
  const auto t =
      select_megc2019(f.casme2, f.samm, f.smic,
                      ProtocolOptions().megc2019_list(list).exclude({{"", "s01", "s01_ne_01"}}));
  EXPECT_EQ(t.samples.size(), 3u);
  EXPECT_EQ(t.notes.size(), 2u);
  expect_excluded(t, "s01_ne_01", "on the exclusion list (flagged, --exclude-flagged)");
}

TEST(Protocols, Megc2019ListErrors) {
  TempDir dir;
  EXPECT_THROW(read_megc2019_list(dir.file("absent.csv")), DataError);
  for (const auto& [text, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"casme2,sub01,EP02_01f\n", "expected 4 fields"},
           {"casme2,sub01,EP02_01f,3\n", "label '3'"},
           {"casme4,sub01,EP02_01f,1\n", "unknown dataset 'casme4'"}}) {
    const auto path = test::write_text(dir.file("bad.csv"), "smic,s01,s01_ne_01,0\n" + text);
    try {
      read_megc2019_list(path);
      FAIL() << "expected DataError for " << text;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
  const auto entries =
      read_megc2019_list(test::write_text(dir.file("ok.csv"), "samm,6,006_1_2,0\r\n"));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].subject, "6");
  EXPECT_EQ(entries[0].label, 0);
  EXPECT_EQ(entries[0].row, 1);
}

TEST(Protocols, FiveClassSelections) {
  std::vector<ClipAnnotation> casme2 = {
      clip("casme2", "sub01", "a", "happiness"), clip("casme2", "sub01", "b", "others"),
      clip("casme2", "sub02", "c", "fear"), clip("casme2", "sub02", "d", "repression")};
  casme2[3].flags = {"fewer_frames_than_onset_offset_range_index_mapping_uncertain"};
  casme2[0].flags = {"frame order: onset 5 > apex 4"};  // the reader's own remark
  const auto flagged = flagged_clips(casme2);
  ASSERT_EQ(flagged.size(), 1u);
  EXPECT_EQ(flagged[0].clip, "d");

  const auto s = select_casme2_5class(casme2, ProtocolOptions().exclude(flagged));
  EXPECT_EQ(s.class_names,
            (std::vector<std::string>{"happiness", "disgust", "repression", "surprise", "others"}));
  EXPECT_EQ(names(s),
            (std::vector<std::string>{"casme2/sub01/a:happiness", "casme2/sub01/b:others"}));
  EXPECT_EQ(s.samples[1].label, 4);
  expect_excluded(s, "c", "emotion fear");
  expect_excluded(s, "d", "on the exclusion list (flagged, --exclude-flagged)");

  const std::vector<ClipAnnotation> samm = {clip("samm", "006", "x", "others"),
                                            clip("samm", "006", "y", "disgust"),
                                            clip("samm", "007", "z", "contempt")};
  const auto t = select_samm_5class(samm);
  EXPECT_EQ(t.class_names,
            (std::vector<std::string>{"anger", "contempt", "happiness", "surprise", "other"}));
  EXPECT_EQ(names(t), (std::vector<std::string>{"samm/006/x:other", "samm/007/z:contempt"}));
  expect_excluded(t, "y", "emotion disgust");
  // A clip of another database is a programming error.
  EXPECT_THROW(select_samm_5class(casme2), ConfigError);
}

TEST(Protocols, ObjectiveClasses) {
  const std::vector<ClipAnnotation> clips = {
      clip("samm", "006", "a", "anger", 3), clip("samm", "006", "b", "others", 7),
      clip("casme2", "sub01", "c", "others", 1), clip("casme2", "sub01", "d", "others", -1)};
  const auto s = select_objective(clips);
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"I", "II", "III", "IV", "V"}));
  EXPECT_EQ(names(s), (std::vector<std::string>{"samm/006/a:III", "casme2/sub01/c:I"}));
  expect_excluded(s, "b", "objective class VII is not selected");
  expect_excluded(s, "d", "no objective class");
  const auto t = select_objective(clips, ProtocolOptions().objective_classes({7, 3}));
  EXPECT_EQ(names(t), (std::vector<std::string>{"samm/006/a:III", "samm/006/b:VII"}));
  EXPECT_EQ(t.samples[0].label, 1);
  EXPECT_THROW(select_objective(clips, ProtocolOptions().objective_classes({0})), ConfigError);
  EXPECT_THROW(select_objective(clips, ProtocolOptions().objective_classes({1, 1})), ConfigError);
  EXPECT_THROW(select_objective(clips, ProtocolOptions().objective_classes({})), ConfigError);
}

TEST(Protocols, SelectByName) {
  const MegcFixture f;
  const std::map<std::string, std::vector<ClipAnnotation>> parts = {
      {"casme2", f.casme2}, {"samm", f.samm}, {"smic", f.smic}};
  EXPECT_EQ(select_protocol("megc2019", parts).samples.size(), 6u);
  EXPECT_EQ(select_protocol("casme2-5class", parts).samples.size(), 4u);
  EXPECT_EQ(select_protocol("samm-5class", parts).samples.size(), 3u);
  EXPECT_EQ(select_protocol("objective", parts).samples.size(), 0u);
  EXPECT_THROW(select_protocol("megc2018", parts), ConfigError);
  EXPECT_THROW(select_protocol("megc2019", {{"casme2", f.casme2}}), ConfigError);
  EXPECT_EQ(protocol_names().size(), 4u);
}

// ---- Real sheets ---------------------------------------------------------------------------

namespace {

struct RealParts {
  AnnotationSet casme2;
  AnnotationSet samm;
  AnnotationSet smic;
};

RealParts read_real(const std::string& casme2_sheet, bool keep_out_of_order = true) {
  RealParts p;
  p.casme2 = read_casme2(test::shared(casme2_sheet));
  p.samm = read_samm(test::shared("annotations/SAMM_Micro_FACS_Codes_v2.xlsx"),
                     AdapterOptions().keep_out_of_order(keep_out_of_order));
  p.smic = read_smic(test::shared("annotations/SMIC_HS_cropped.csv"));
  return p;
}

struct PartCounts {
  size_t samples = 0;
  size_t subjects = 0;
  std::vector<int64_t> classes = std::vector<int64_t>(3, 0);
};

std::map<std::string, PartCounts> per_part(const Selection& s) {
  std::map<std::string, PartCounts> out;
  std::map<std::string, std::set<std::string>> subjects;
  for (const auto& x : s.samples) {
    auto& c = out[x.dataset];
    ++c.samples;
    ++c.classes[static_cast<size_t>(x.label)];
    subjects[x.dataset].insert(x.subject);
  }
  for (auto& [part, c] : out) c.subjects = subjects[part].size();
  return out;
}

// The MEGC2019 numbers of shared/data/megc2019/README.md.
void expect_official_composite(const Selection& s) {
  EXPECT_EQ(s.samples.size(), 442u);
  EXPECT_EQ(s.fold_keys().size(), 68u);
  EXPECT_EQ(s.class_counts(), (std::vector<int64_t>{250, 109, 83}));
  const auto parts = per_part(s);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts.at("casme2").samples, 145u);
  EXPECT_EQ(parts.at("casme2").subjects, 24u);
  EXPECT_EQ(parts.at("casme2").classes, (std::vector<int64_t>{88, 32, 25}));
  EXPECT_EQ(parts.at("samm").samples, 133u);
  EXPECT_EQ(parts.at("samm").subjects, 28u);
  EXPECT_EQ(parts.at("samm").classes, (std::vector<int64_t>{92, 26, 15}));
  EXPECT_EQ(parts.at("smic").samples, 164u);
  EXPECT_EQ(parts.at("smic").subjects, 16u);
  EXPECT_EQ(parts.at("smic").classes, (std::vector<int64_t>{70, 51, 43}));
}

}  // namespace

TEST(Protocols, RealDataMegc2019CompositeFromTheOfficialList) {
  MER_REQUIRE_SHARED("annotations/megc2019_combined_3class_gt.csv");
  MER_REQUIRE_SHARED("annotations/CASME2-coding-20140508.xlsx");
  MER_REQUIRE_SHARED("megc2019/labels.csv");
  const auto p = read_real("annotations/CASME2-coding-20140508.xlsx");
  const auto s = select_megc2019(
      p.casme2.clips, p.samm.clips, p.smic.clips,
      ProtocolOptions().megc2019_list(test::shared("annotations/megc2019_combined_3class_gt.csv")));
  EXPECT_TRUE(s.notes.empty()) << s.notes.front();
  expect_official_composite(s);
  // Sample for sample, the prepared set's labels.csv: same names, labels, emotions, order.
  const auto rows = csv::read_file(test::shared("megc2019/labels.csv"));
  ASSERT_EQ(rows.size(), s.samples.size() + 1);
  for (size_t i = 0; i < s.samples.size(); ++i) {
    const auto& f = rows[i + 1].fields;
    const auto& x = s.samples[i];
    EXPECT_EQ(x.dataset, f[0]) << i;
    EXPECT_EQ(x.subject, f[1]) << i;
    EXPECT_EQ(x.sample, f[2]) << i;
    EXPECT_EQ(std::to_string(x.label), f[3]) << i;
    EXPECT_EQ(x.emotion, f[4]) << i;
  }
  // Everything read and not selected is accounted for.
  EXPECT_EQ(s.samples.size() + s.excluded.size(),
            p.casme2.clips.size() + p.samm.clips.size() + p.smic.clips.size());
}

TEST(Protocols, RealDataMegc2019RuleReproducesTheListFrom2014Coding) {
  MER_REQUIRE_SHARED("annotations/megc2019_combined_3class_gt.csv");
  MER_REQUIRE_SHARED("annotations/CASME2-coding-20140508.xlsx");
  const auto p = read_real("annotations/CASME2-coding-20140508.xlsx");
  const auto rule = select_megc2019(p.casme2.clips, p.samm.clips, p.smic.clips);
  const auto list = select_megc2019(
      p.casme2.clips, p.samm.clips, p.smic.clips,
      ProtocolOptions().megc2019_list(test::shared("annotations/megc2019_combined_3class_gt.csv")));
  expect_official_composite(rule);
  // The same samples with the same labels (the rule keeps sheet order, the list its own).
  auto a = names(rule);
  auto b = names(list);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b);
}

TEST(Protocols, RealDataMegc2019From2019CodingNeedsTheList) {
  MER_REQUIRE_SHARED("annotations/megc2019_combined_3class_gt.csv");
  MER_REQUIRE_SHARED("casme2/clips.csv");
  const auto p = read_real("casme2/clips.csv");
  const auto list = select_megc2019(
      p.casme2.clips, p.samm.clips, p.smic.clips,
      ProtocolOptions().megc2019_list(test::shared("annotations/megc2019_combined_3class_gt.csv")));
  EXPECT_TRUE(list.notes.empty()) << list.notes.front();
  expect_official_composite(list);
  // Without it, the 2019 recoding of three sub24 clips (sadness -> surprise) adds them.
  const auto rule = select_megc2019(p.casme2.clips, p.samm.clips, p.smic.clips);
  EXPECT_EQ(per_part(rule).at("casme2").samples, 148u);
  for (const char* c : {"sub24/EP07_01", "sub24/EP07_04f", "sub24/EP10_03"}) {
    expect_excluded(list, c, "not in the MEGC2019 list");
  }
}

TEST(Protocols, RealDataMegc2019ReportsListedClipsTheReaderSkipped) {
  MER_REQUIRE_SHARED("annotations/megc2019_combined_3class_gt.csv");
  MER_REQUIRE_SHARED("annotations/CASME2-coding-20140508.xlsx");
  // SAMM read with the default (out-of-order rows skipped) lacks two listed clips.
  const auto p = read_real("annotations/CASME2-coding-20140508.xlsx", false);
  const auto s = select_megc2019(
      p.casme2.clips, p.samm.clips, p.smic.clips,
      ProtocolOptions().megc2019_list(test::shared("annotations/megc2019_combined_3class_gt.csv")));
  EXPECT_EQ(s.samples.size(), 440u);
  ASSERT_EQ(s.notes.size(), 2u);
  EXPECT_NE(s.notes[0].find("028_4_1"), std::string::npos) << s.notes[0];
  EXPECT_NE(s.notes[1].find("032_3_1"), std::string::npos) << s.notes[1];
}

TEST(Protocols, RealDataCasme2FiveClass) {
  MER_REQUIRE_SHARED("casme2/clips.csv");
  const auto casme2 = read_casme2(test::shared("casme2/clips.csv"));
  const auto all = select_casme2_5class(casme2.clips);
  EXPECT_EQ(all.samples.size(), 249u);
  EXPECT_EQ(all.class_counts(), (std::vector<int64_t>{32, 63, 27, 28, 99}));
  EXPECT_EQ(all.fold_keys().size(), 26u);
  EXPECT_EQ(all.excluded.size(), 6u);  // 4 sadness, 2 fear

  const auto flagged = flagged_clips(casme2.clips);
  ASSERT_EQ(flagged.size(), 5u);
  const auto s = select_casme2_5class(casme2.clips, ProtocolOptions().exclude(flagged));
  EXPECT_EQ(s.samples.size(), 244u);
  EXPECT_EQ(s.class_counts(), (std::vector<int64_t>{32, 61, 26, 28, 97}));
  EXPECT_EQ(s.fold_keys().size(), 26u);
  EXPECT_EQ(s.excluded.size(), 11u);
  for (const auto& f : flagged) expect_excluded(s, f.clip, "on the exclusion list (flagged, --exclude-flagged)");
}

TEST(Protocols, RealDataSammFiveClass) {
  MER_REQUIRE_SHARED("annotations/SAMM_Micro_FACS_Codes_v2.xlsx");
  const auto path = test::shared("annotations/SAMM_Micro_FACS_Codes_v2.xlsx");
  const auto kept =
      select_samm_5class(read_samm(path, AdapterOptions().keep_out_of_order(true)).clips);
  EXPECT_EQ(kept.samples.size(), 136u);
  EXPECT_EQ(kept.class_counts(), (std::vector<int64_t>{57, 12, 26, 15, 26}));
  EXPECT_EQ(kept.fold_keys().size(), 27u);
  const auto strict = select_samm_5class(read_samm(path).clips);
  EXPECT_EQ(strict.samples.size(), 134u);
  EXPECT_EQ(strict.class_counts(), (std::vector<int64_t>{56, 11, 26, 15, 26}));
}

TEST(Protocols, RealDataObjectiveClasses) {
  MER_REQUIRE_SHARED("casme2/CASME2-coding-20190701.xlsx");
  MER_REQUIRE_SHARED("annotations/SAMM_Micro_FACS_Codes_v2.xlsx");
  MER_REQUIRE_SHARED("annotations/CASME3_partA_ME_label_JpgIndex_v2.xlsx");
  const auto casme2 = read_casme2(test::shared("casme2/CASME2-coding-20190701.xlsx"));
  const auto samm = read_samm(test::shared("annotations/SAMM_Micro_FACS_Codes_v2.xlsx"),
                              AdapterOptions().keep_out_of_order(true));
  const auto casme3 =
      read_casme3(test::shared("annotations/CASME3_partA_ME_label_JpgIndex_v2.xlsx"));
  // MEGC2018's objective-class protocol: CASME II + SAMM, classes I..V.
  const auto s = select_protocol("objective", {{"casme2", casme2.clips}, {"samm", samm.clips}});
  EXPECT_EQ(s.part("samm").size(), 68u);  // MEGC2018's SAMM count
  EXPECT_EQ(s.part("casme2").size(), 173u);
  EXPECT_EQ(s.class_counts(), (std::vector<int64_t>{54, 31, 113, 22, 21}));
  const auto c3 = select_objective(casme3.clips);
  EXPECT_EQ(c3.samples.size(), 484u);
  EXPECT_EQ(c3.class_counts(), (std::vector<int64_t>{15, 151, 234, 37, 47}));
}

}  // namespace mer::data
