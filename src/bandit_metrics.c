/* bandit_metrics: the names of the recorded metrics (bandit.h), apart
 * from the engine so that the table has one owner and the engine's file
 * stays the engine's. */
#include "dposweep/bandit.h"

const char *bandit_metric_name(enum bandit_metric m)
{
  static const char *const names[BANDIT_NMETRICS] = {
    [BANDIT_MAX_ABS_DELTA] = "max_abs_delta",
    [BANDIT_MEAN_ABS_DELTA] = "mean_abs_delta",
    [BANDIT_VALUE_GAP] = "value_gap",
    [BANDIT_EXPECTED_REWARD] = "expected_reward",
    [BANDIT_WIN_RATE] = "win_rate",
    [BANDIT_KL_REF] = "kl_ref",
  };
  if ((int)m < 0 || m >= BANDIT_NMETRICS)
    return NULL;
  return names[m];
}
