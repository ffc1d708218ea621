"""Review and correction in napari: a DICOM reader (npe2 plugin ``caliper``) and the
lesion review dock widget driven by :class:`pipelines.batch.session.ReviewSession`."""
