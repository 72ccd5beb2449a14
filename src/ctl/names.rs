//! `adjective_bird` names for services registered without `--name`, from the word lists
//! of Python Twitcher's namesgenerator (after Docker's). Unlike the original, a name
//! already in the registry is never picked, so a generated name never overwrites a
//! service.

use crate::client::{self, Client, NewService, Service};

const LEFT: &[&str] = &[
    "admiring",
    "adoring",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "backstabbing",
    "berserk",
    "big",
    "blind",
    "boring",
    "clever",
    "cocky",
    "compassionate",
    "condescending",
    "cranky",
    "desperate",
    "determined",
    "distracted",
    "dreamy",
    "drunk",
    "ecstatic",
    "elated",
    "elegant",
    "evil",
    "fervent",
    "focused",
    "furious",
    "gigantic",
    "gloomy",
    "goofy",
    "grave",
    "happy",
    "high",
    "hopeful",
    "hungry",
    "insane",
    "jolly",
    "jovial",
    "kickass",
    "lonely",
    "loving",
    "mad",
    "modest",
    "naughty",
    "nostalgic",
    "pensive",
    "prickly",
    "reverent",
    "romantic",
    "running",
    "sad",
    "serene",
    "sharp",
    "sick",
    "silly",
    "sleepy",
    "small",
    "stoic",
    "stupefied",
    "suspicious",
    "tender",
    "thirsty",
    "tiny",
    "trusting",
];

const RIGHT: &[&str] = &[
    "albatrosse",
    "antbird",
    "buzzard",
    "cassowary",
    "catbird",
    "chicken",
    "crane",
    "cuckoo",
    "dodrio",
    "dove",
    "duck",
    "eagle",
    "emu",
    "figbird",
    "flamingo",
    "flycatcher",
    "goldfinch",
    "goose",
    "grouse",
    "hawk",
    "honeyeater",
    "hornbill",
    "hummingbird",
    "ibis",
    "kingfisher",
    "kiwi",
    "leafbird",
    "lovebird",
    "malleefowl",
    "mockingbird",
    "mousebird",
    "nightjar",
    "ostriche",
    "owl",
    "parrot",
    "pelican",
    "penguin",
    "pheasant",
    "pigeon",
    "roadrunner",
    "satinbird",
    "seagull",
    "snowfinch",
    "sparrow",
    "starling",
    "stork",
    "sugarbird",
    "sunbird",
    "swan",
    "swift",
    "tinamou",
    "toucan",
    "trogon",
    "turaco",
    "turkey",
    "woodcreeper",
    "woodpecker",
];

/// How many generated names `register_generated` tries: each try fails only when a
/// registration running at the same time took that very name.
const TRIES: usize = 8;

/// Registers `service` under a generated name that is still free when it is created
/// (`If-None-Match: *`): a service registered between the listing and the POST is
/// never replaced. None when every name is taken, or each one tried was taken meanwhile.
pub fn register_generated(c: &Client, mut service: NewService) -> client::Result<Option<Service>> {
    let mut taken: Vec<String> = c.list_services()?.into_iter().map(|s| s.name).collect();
    for _ in 0..TRIES {
        let Some(name) = unused(&taken) else {
            return Ok(None);
        };
        service.name = name;
        match c.register_new_service(&service)? {
            Some(s) => return Ok(Some(s)),
            None => taken.push(service.name.clone()),
        }
    }
    Ok(None)
}

/// A random `adjective_bird` name not in `taken`; None when every one is.
pub fn unused(taken: &[String]) -> Option<String> {
    let free: Vec<String> = LEFT
        .iter()
        .flat_map(|l| RIGHT.iter().map(move |r| format!("{l}_{r}")))
        .filter(|n| !taken.contains(n))
        .collect();
    if free.is_empty() {
        return None;
    }
    let bytes = crate::auth::password::random_bytes(8);
    let r = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    Some(free[(r % free.len() as u64) as usize].clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::sanitize_name;

    #[test]
    fn every_name_survives_the_registry_unchanged() {
        for l in LEFT {
            for r in RIGHT {
                let n = format!("{l}_{r}");
                assert_eq!(sanitize_name(&n).unwrap(), n);
            }
        }
    }

    #[test]
    fn taken_names_are_never_picked() {
        let all: Vec<String> = LEFT
            .iter()
            .flat_map(|l| RIGHT.iter().map(move |r| format!("{l}_{r}")))
            .collect();
        let (last, taken) = all.split_last().unwrap();
        assert_eq!(unused(taken).as_deref(), Some(last.as_str()));
        assert_eq!(unused(&all), None);
        let n = unused(&[]).unwrap();
        let (l, r) = n.split_once('_').unwrap();
        assert!(LEFT.contains(&l) && RIGHT.contains(&r), "{n}");
    }
}
