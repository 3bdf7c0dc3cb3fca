"""Pictures, drawn with matplotlib off-screen (Agg); each function returns a
matplotlib Figure, and common.save_figure writes one as a PNG of its exact
size:

- masks: masks_figure / tracklet_masks_figure (spatial masks over the
  frames, with the person silhouettes outlined where a synthetic set has
  them, channel masks as bar plots), from the masks models.masks captures;
- ranks: rank_gallery, ranks_figure (top-k gallery tracklets per query);
- cmc: cmc_result, cmc_figure (CMC curves of one or more results);
- from_files: the figures of `cosam-reid visualize masks|ranks|cmc`, from a
  checkpoint, saved test features and a dataset;
- common: what they all share (figure size and saving, frames as images,
  tracklets picked by id);
- contact_sheet: a dataset's test identities side by side, drawn with PIL
  (`cosam-reid synth --preview`).

The submodules are not imported here, so that matplotlib only loads when a
picture is drawn.
"""
