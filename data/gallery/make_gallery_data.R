# Writes the study-level files of two gallery cases from the metadat R package (Debian r-cran-metadat 1.2-0):
#   magnesium_mi/outcomes.csv      <- dat.li2007    (Li et al. 2007, Cochrane CD002755: early mortality, 22 trials)
#   parkinson_offtime/outcomes.csv <- dat.stowe2010 (Stowe et al. 2010, Cochrane CD007166: off-time, 29 trials)
# The third case (glp1_mace) was entered by hand from the trials' published results; see its README.
# Run from the repository root:  Rscript data/gallery/make_gallery_data.R
suppressPackageStartupMessages(library(metadat))
stopifnot(packageVersion("metadat") == "1.2.0")

out_dir <- file.path("data", "gallery")
study_id <- function(label) gsub("-+", "-", gsub("^-|-$", "", gsub("[^A-Za-z0-9]+", "-", label)))
csv_cell <- function(x) {
  x <- ifelse(is.na(x), "", as.character(x))
  ifelse(grepl('[",]', x), paste0('"', gsub('"', '""', x), '"'), x)
}
write_case <- function(frame, case) {
  path <- file.path(out_dir, case, "outcomes.csv")
  dir.create(dirname(path), showWarnings = FALSE, recursive = TRUE)
  cells <- vapply(frame, csv_cell, character(nrow(frame)))
  writeLines(c(paste(names(frame), collapse = ","), apply(cells, 1, paste, collapse = ",")), path)
  message("wrote ", path, " (", nrow(frame), " rows)")
}

# -- Intravenous magnesium in acute myocardial infarction: deaths / patients per arm ---------------------------
li <- metadat::dat.li2007
magnesium <- data.frame(
  study_id = with(list(name = gsub("[^A-Za-z0-9]", "", sub(" [0-9]{4}$", "", li$study))),
                  paste0(name, ifelse(grepl("[0-9]$", name), "_", ""), li$year)),
  outcome = "mortality",
  measure = "OR",
  events_treatment = li$ai, total_treatment = li$n1i,
  events_control = li$ci, total_control = li$n2i,
  year = li$year,
  trial = li$study,
  source = "metadat 1.2-0 dat.li2007 (data of Li et al. 2007, Cochrane Database Syst Rev CD002755)",
  location = paste0("dat.li2007 id ", li$id),
  notes = ifelse(li$ai == 0 | li$ci == 0, "zero deaths in one arm", ""),
  stringsAsFactors = FALSE)
stopifnot(!anyDuplicated(magnesium$study_id))
write_case(magnesium, "magnesium_mi")

# -- Adjuvant treatment to levodopa: change in daily off-time (hours) per arm, vs placebo ------------------------
# The three-arm LARGO trial (COMTI, MAOBI, placebo) gives two comparisons that share its placebo arm.
st <- metadat::dat.stowe2010
arm <- function(t, y, s, n) data.frame(drug_class = t, mean_treatment = y, sd_treatment = s, total_treatment = n)
rows <- rbind(cbind(st[, c("study", "id")], arm(st$t1, st$y1, st$sd1, st$n1), st[, c("y2", "sd2", "n2")]),
              cbind(st[, c("study", "id")], arm(st$t3, st$y3, st$sd3, st$n3), st[, c("y2", "sd2", "n2")]))
rows <- rows[!is.na(rows$mean_treatment), ]
rows <- rows[order(rows$id, rows$drug_class), ]
stopifnot(all(st$t2 == "Placebo"))
class_code <- c("Dopamine Agonist" = "DA", "COMTI" = "COMTI", "MAOBI" = "MAOBI")[rows$drug_class]
shared <- rows$study %in% rows$study[duplicated(rows$study)]
parkinson <- data.frame(
  study_id = ifelse(shared, paste0(study_id(rows$study), "-", class_code), study_id(rows$study)),
  outcome = "off_time",
  measure = "MD",
  mean_treatment = rows$mean_treatment, sd_treatment = rows$sd_treatment, total_treatment = rows$total_treatment,
  mean_control = rows$y2, sd_control = rows$sd2, total_control = rows$n2,
  drug_class = unname(class_code),
  trial = rows$study,
  source = "metadat 1.2-0 dat.stowe2010 (data of Stowe et al. 2010, Cochrane Database Syst Rev CD007166)",
  location = paste0("dat.stowe2010 id ", rows$id, ifelse(shared, ifelse(rows$drug_class == st$t1[match(rows$id, st$id)],
                                                                        " (arms 1 and 2)", " (arms 3 and 2)"), "")),
  notes = ifelse(shared, "three-arm trial: this comparison shares its placebo arm with the trial's other comparison", ""),
  stringsAsFactors = FALSE)
stopifnot(!anyDuplicated(parkinson$study_id))
write_case(parkinson, "parkinson_offtime")

# -- Passive smoking and lung cancer in never-smoking women: odds ratios with 95% CIs as printed -----------------
# Hackshaw et al. 1997 (BMJ 315:980) list each study's OR and CI to two decimals; metadat stores them as numbers,
# so they are written back with the two printed decimals (the CI checks read the rounding from the digits).
hk <- metadat::dat.hackshaw1998
two <- function(x) sprintf("%.2f", x)
hackshaw <- data.frame(
  study_id = make.unique(paste0(gsub("[^A-Za-z]", "", hk$author), hk$year)),
  outcome = "lung_cancer",
  measure = "OR",
  estimate = two(hk$or), ci_lower = two(hk$or.lb), ci_upper = two(hk$or.ub),
  year = hk$year,
  design = hk$design,
  country = hk$country,
  cases = hk$cases,
  source = "metadat 1.2-0 dat.hackshaw1998 (data of Hackshaw et al. 1997, BMJ 315:980, and Hackshaw 1998)",
  location = paste0("dat.hackshaw1998 study ", hk$study),
  stringsAsFactors = FALSE)
stopifnot(!anyDuplicated(hackshaw$study_id))
write_case(hackshaw, "hackshaw_ets")

# -- Specialist stroke unit care vs routine care: length of hospital stay (days), means, SDs and sizes per arm ------
nm <- metadat::dat.normand1999
normand <- data.frame(
  study_id = study_id(nm$source),
  outcome = "length_of_stay",
  measure = "MD",
  mean_treatment = nm$m1i, sd_treatment = nm$sd1i, total_treatment = nm$n1i,
  mean_control = nm$m2i, sd_control = nm$sd2i, total_control = nm$n2i,
  source = "metadat 1.2-0 dat.normand1999 (data of Normand 1999, Stat Med 18:321, Table VIII)",
  location = paste0("dat.normand1999 study ", nm$study),
  stringsAsFactors = FALSE)
stopifnot(!anyDuplicated(normand$study_id))
write_case(normand, "normand_stroke")
