#pragma once
// The report's sections over several runs (html_report.h): the comparisons of runs that may be
// compared (mean over seeds, bootstrap intervals over subjects, paired differences, and for
// oracle runs what the selection adds over the same trainings' last epoch) and the occlusion
// results of `mer evaluate --on-other-data` beside their clean runs.
#include <ostream>

#include "mer/report/report_content.h"

namespace mer::report {

void comparison_section(std::ostream& o, const ReportContent& c);
void occlusion_section(std::ostream& o, const ReportContent& c);  // nothing without occlusion runs

}  // namespace mer::report
