"""The stakeholder register of an incident (journalists, regulators, partners, influencers, key customers,
employees), its contact log and the press enquiries queue. App label "stakeholders"."""
